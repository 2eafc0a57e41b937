// The composer's filmstrip: one tile per image or video (with a play mark), in order, with buttons to
// choose it, move it earlier or later (the keyboard's and touch's way to
// reorder; dragging is the mouse's), replace it and remove it.

// Fill `list` with `count` tiles made from `template`; image `selected` is the
// one being edited. `on` has select(i), move(from, to), replace(i), remove(i)
// thumb(i) (the tile's picture URL) and video(i) (whether it is a video).
export function renderFilmstrip(list, template, count, selected, on) {
  const tiles = [];
  for (let index = 0; index < count; index += 1) {
    const li = template.content.firstElementChild.cloneNode(true);
    const noun = on.video(index) ? 'video' : 'image';
    const number = index + 1;
    const chosen = index === selected;
    li.classList.toggle('is-video', noun === 'video');
    li.querySelector('[data-film-play]').hidden = noun !== 'video';
    li.classList.toggle('is-selected', chosen);
    const thumb = li.querySelector('[data-film-select]');
    // aria-pressed says which image is being edited.
    thumb.setAttribute('aria-label', `${noun === 'video' ? 'Video' : 'Image'} ${number}`);
    thumb.setAttribute('aria-pressed', String(chosen));
    thumb.addEventListener('click', () => on.select(index));
    const picture = on.thumb(index);
    if (picture) li.querySelector('[data-film-img]').src = picture;
    li.querySelector('[data-film-number]').textContent = String(number);
    const actions = {
      earlier: [`Move ${noun} ${number} earlier`, index === 0, () => on.move(index, index - 1)],
      later: [`Move ${noun} ${number} later`, index === count - 1, () => on.move(index, index + 1)],
      replace: [`Replace ${noun} ${number}`, false, () => on.replace(index)],
      remove: [`Remove ${noun} ${number}`, false, () => on.remove(index)],
    };
    Object.entries(actions).forEach(([name, [label, disabled, act]]) => {
      const button = li.querySelector(`[data-film-${name}]`);
      button.setAttribute('aria-label', label);
      button.title = label;
      button.disabled = disabled;
      button.addEventListener('click', act);
    });
    tiles.push(li);
  }
  list.replaceChildren(...tiles);
}
