// Tagging people on one image: click or tap the photo to drop a pin, type the
// person's Instagram username; drag a pin to move it. Every pin also has a row
// with its username and its position as numbers (0 to 1 from the top left,
// like Instagram's x and y): the keyboard's way to place and move it.

function clamp01(value) {
  return Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0.5));
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

export class PeopleTags {
  // `max`: tags allowed per image; `onChange()` is told of every change.
  constructor(pane, template, { max, onChange }) {
    this.stage = pane.querySelector('[data-tag-stage]');
    this.image = pane.querySelector('[data-tag-image]');
    this.list = pane.querySelector('[data-tag-list]');
    this.addButton = pane.querySelector('[data-tag-add]');
    this.template = template;
    this.max = max;
    this.onChange = onChange;
    this.tags = [];
    this.number = 1;
    this.image.addEventListener('click', (event) => this.dropPin(event));
    this.addButton.addEventListener('click', () => this.add(0.5, 0.5));
  }

  // Edit `tags` (the array is changed in place) of image `number`, shown as
  // `previewUrl` (the image as cropped).
  show(tags, previewUrl, number) {
    this.tags = tags;
    this.number = number;
    this.image.src = previewUrl;
    this.image.alt = `Image ${number} as cropped: click where someone is to tag them`;
    this.render();
  }

  dropPin(event) {
    const box = this.image.getBoundingClientRect();
    if (!box.width || !box.height) return;
    this.add((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
  }

  add(x, y) {
    if (this.tags.length >= this.max) return;
    this.tags.push({ username: '', x: round(clamp01(x)), y: round(clamp01(y)) });
    this.render();
    this.onChange();
    this.list.lastElementChild.querySelector('[data-tag-user]').focus();
  }

  remove(index) {
    this.tags.splice(index, 1);
    this.render();
    this.onChange();
    this.addButton.focus();
  }

  render() {
    this.stage.querySelectorAll('.tag-pin').forEach((pin) => pin.remove());
    this.list.replaceChildren();
    this.tags.forEach((tag, index) => {
      const pin = this.makePin(tag, index);
      const row = this.makeRow(tag, index, pin);
      this.stage.append(pin);
      this.list.append(row);
    });
    this.addButton.disabled = this.tags.length >= this.max;
  }

  makePin(tag, index) {
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'tag-pin';
    // Moved with the row's number fields from the keyboard; not a tab stop.
    pin.tabIndex = -1;
    pin.setAttribute('aria-hidden', 'true');
    pin.textContent = tag.username ? `@${tag.username}` : `${index + 1}`;
    placePin(pin, tag);
    pin.addEventListener('pointerdown', (event) => this.drag(event, tag, pin));
    return pin;
  }

  makeRow(tag, index, pin) {
    const row = this.template.content.firstElementChild.cloneNode(true);
    const id = `tag-${this.number}-${index + 1}`;
    row.querySelector('[data-tag-number]').textContent = `${index + 1}.`;
    const fields = {
      user: [`Username of person ${index + 1} on image ${this.number}`, 'Username'],
      x: [`Across (0 left, 1 right), person ${index + 1}`, 'Across'],
      y: [`Down (0 top, 1 bottom), person ${index + 1}`, 'Down'],
    };
    Object.entries(fields).forEach(([key, [label, shown]]) => {
      const input = row.querySelector(`[data-tag-${key}]`);
      const labelEl = row.querySelector(`[data-tag-${key}-label]`);
      input.id = `${id}-${key}`;
      labelEl.htmlFor = input.id;
      labelEl.textContent = shown;
      input.setAttribute('aria-label', label);
    });
    const user = row.querySelector('[data-tag-user]');
    const x = row.querySelector('[data-tag-x]');
    const y = row.querySelector('[data-tag-y]');
    user.value = tag.username ? `@${tag.username}` : '';
    x.value = String(tag.x);
    y.value = String(tag.y);
    user.addEventListener('input', () => {
      tag.username = user.value.trim().replace(/^@+/, '').toLowerCase();
      pin.textContent = tag.username ? `@${tag.username}` : `${index + 1}`;
      this.onChange();
    });
    const moveTo = () => {
      tag.x = round(clamp01(parseFloat(x.value)));
      tag.y = round(clamp01(parseFloat(y.value)));
      placePin(pin, tag);
      this.onChange();
    };
    x.addEventListener('change', moveTo);
    y.addEventListener('change', moveTo);
    row
      .querySelector('[data-tag-remove]')
      .setAttribute('aria-label', `Remove person ${index + 1} from image ${this.number}`);
    row.querySelector('[data-tag-remove]').addEventListener('click', () => this.remove(index));
    return row;
  }

  // Drag a pin with a mouse or a finger; its row's numbers follow.
  drag(event, tag, pin) {
    event.preventDefault();
    pin.setPointerCapture(event.pointerId);
    const row = this.list.children[this.tags.indexOf(tag)];
    const move = (moveEvent) => {
      const box = this.image.getBoundingClientRect();
      tag.x = round(clamp01((moveEvent.clientX - box.left) / box.width));
      tag.y = round(clamp01((moveEvent.clientY - box.top) / box.height));
      placePin(pin, tag);
      row.querySelector('[data-tag-x]').value = String(tag.x);
      row.querySelector('[data-tag-y]').value = String(tag.y);
    };
    const stop = () => {
      pin.removeEventListener('pointermove', move);
      pin.removeEventListener('pointerup', stop);
      pin.removeEventListener('pointercancel', stop);
      this.onChange();
    };
    pin.addEventListener('pointermove', move);
    pin.addEventListener('pointerup', stop);
    pin.addEventListener('pointercancel', stop);
  }
}

function placePin(pin, tag) {
  pin.style.left = `${tag.x * 100}%`;
  pin.style.top = `${tag.y * 100}%`;
}
