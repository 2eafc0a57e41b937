// The images of the New post and Edit post forms: the "Media" picker takes 1-10
// photos (2 or more make a carousel, which may mix in videos: carouselVideo.js,
// sent as they are, with a poster frame and a play mark in the filmstrip and
// the carousel-wide "video_fit" choice), a filmstrip orders them (drag, or the
// Earlier and Later buttons), and the chosen image gets its crop (one shape for
// every image), alt text and people tags. When the form is sent, the images are
// added to its data the way ospost/post_form.py reads them: each as "new:<k>"
// (a cropped upload), "keep:<id>" (an image the post has, untouched) or
// "lib:<id>" (an image from the media library, shared as it is; the
// "media:library" event on the composer adds one).
// Images with see-through areas get a colour picker ("background"): the
// preview shows that colour behind them and the JPEG is flattened on it. The
// first image shows the 3:4 part the profile grid shows (mediaCrop.js).

import Sortable from '/vendor/sortable.complete.esm.js';

import { setupCaptionCounter } from './caption.js';
import { CropView, canvasToJpeg, drawCrop, hasTransparency, loadImage } from './mediaCrop.js';
import { CarouselShape } from './carouselShape.js';
import { isVideoFile, readVideo, videoProblem } from './carouselVideo.js';
import { renderFilmstrip } from './filmstrip.js';
import { PeopleTags } from './peopleTags.js';

const FORM_FIELDS = ['media', 'image', 'item', 'item_alt_text', 'item_user_tags', 'alt_text'];
const PREVIEW_SIDE = 900; // the tag pane's picture of the crop
let nextKey = 1;

// Wire the composer of a post form, if it has one, and the first comment's
// counters (the caption's limits, counted on their own); returns the composer.
// `onChange()` hears every change the person makes to the images.
export function setupMediaComposer(form, limits, { onChange } = {}) {
  const comment = form.querySelector('[data-first-comment-input]');
  if (comment) setupCaptionCounter(comment, limits.caption, { noun: 'first comment' });
  const root = form.querySelector('[data-media-composer]');
  return root ? new MediaComposer(root, limits, onChange || (() => {})) : null;
}

class MediaComposer {
  constructor(root, limits, onChange) {
    this.root = root;
    this.limits = limits;
    this.onChange = onChange;
    this.dirty = false;
    this.backgroundField = root.querySelector('[data-crop-background]');
    this.colorInput = root.querySelector('[data-crop-color]');
    this.input = root.querySelector('[data-media-input]');
    this.replaceInput = root.querySelector('[data-replace-input]');
    this.workspace = root.querySelector('[data-media-workspace]');
    this.filmstrip = root.querySelector('[data-filmstrip]');
    this.note = root.querySelector('[data-media-note]');
    this.title = root.querySelector('[data-editor-title]');
    this.altInput = root.querySelector('[data-alt-input]');
    this.altField = root.querySelector('[data-alt-field]');
    this.altLabel = root.querySelector('[data-alt-label]');
    this.cropPane = root.querySelector('[data-crop-pane]');
    this.tagPane = root.querySelector('[data-tag-pane]');
    this.ratioButtons = [...root.querySelectorAll('[data-ratio]')];
    this.modeButtons = [...root.querySelectorAll('[data-mode]')];
    this.filmTemplate = root.querySelector('[data-film-template]');
    this.fitField = root.querySelector('[data-video-fit]');
    this.videoLimits = JSON.parse(root.dataset.videoLimits || '{}');
    // The page's own list of current images serves forms without JavaScript.
    root.querySelector('[data-media-static]')?.remove();
    this.items = JSON.parse(root.dataset.items || '[]').map(keptItem);
    this.selected = 0;
    this.mode = 'crop';
    this.replacing = null;
    this.shape = new CarouselShape(this.items, limits.image, this.ratioButtons);
    this.cropView = new CropView(
      root.querySelector('[data-crop-stage]'),
      root.querySelector('[data-crop-info]'),
      root.querySelector('[data-grid-note]'),
      { onCrop: (crop, byHand) => this.cropped(crop, byHand) },
    );
    this.tagger = new PeopleTags(this.tagPane, root.querySelector('[data-tag-template]'), {
      max: limits.tags_per_image,
      onChange: () => this.touched(),
    });
    this.wire();
    this.render();
    // Files chosen before this script ran (or restored by the browser).
    if (this.input.files.length) this.takeFiles();
  }

  wire() {
    this.input.addEventListener('change', () => this.takeFiles());
    this.root.addEventListener('media:library', (event) => this.addLibrary(event.detail));
    this.replaceInput.addEventListener('change', () =>
      this.replaceWith(this.replaceInput.files[0]),
    );
    this.altInput.addEventListener('input', () => {
      const item = this.items[this.selected];
      if (item) item.alt = this.altInput.value;
      this.touched();
    });
    this.colorInput.addEventListener('input', () => {
      this.cropView.paint(this.backgroundColor());
      this.touched();
    });
    this.ratioButtons.forEach((button) => {
      button.addEventListener('click', () => this.setRatio(button.dataset.ratio));
    });
    this.modeButtons.forEach((button) => {
      button.addEventListener('click', () => this.setMode(button.dataset.mode));
    });
    Sortable.create(this.filmstrip, {
      animation: 150,
      draggable: '.film-item',
      // A finger scrolls the page; holding it first picks the image up.
      delay: 150,
      delayOnTouchOnly: true,
      onEnd: (event) => this.move(event.oldIndex, event.newIndex),
    });
  }

  takeFiles() {
    this.addFiles([...this.input.files]);
    this.input.value = ''; // the composer sends the files; allow picking again
  }

  // -- what the form needs to know -----------------------------------------

  touched() {
    this.dirty = true;
    this.onChange();
  }

  // Whether the person changed the images since the page was shown.
  changed() {
    return this.dirty;
  }

  // What is wrong with the images before sending ('' when nothing).
  problem({ required }) {
    if (required && !this.items.length) return 'Choose an image to post.';
    if (this.items.length === 1 && this.items[0].video) {
      return 'A single video is a Reel: choose Reel as the post type, or add a photo or video to make a carousel.';
    }
    const videos = videoProblem(this.items, this.videoLimits);
    if (videos) return videos;
    for (const [index, item] of this.items.entries()) {
      const unnamed = item.tags.findIndex((tag) => !tag.username);
      if (unnamed >= 0) {
        return `Type the username of person ${unnamed + 1} tagged on image ${index + 1}, or remove the tag.`;
      }
    }
    return '';
  }

  // The colour behind see-through areas, or null when no new image has any.
  backgroundColor() {
    return this.items.some((item) => item.transparent) ? this.colorInput.value : null;
  }

  renderBackground() {
    const color = this.backgroundColor();
    this.backgroundField.hidden = !color;
    this.colorInput.disabled = !color;
    this.cropView.paint(color);
  }

  // -- the list of images ---------------------------------------------------

  async addFiles(files) {
    const room = this.limits.media_items - this.items.length;
    const taken = files.slice(0, Math.max(room, 0));
    const added = await Promise.all(taken.map(newItem));
    const wasEmpty = !this.items.length;
    this.items.push(...added);
    if (wasEmpty && added.length) this.shape.ratio = this.shape.defaultRatio(added[0]);
    if (files.length > taken.length) {
      this.message = `A carousel holds ${this.limits.media_items} images: ${files.length - taken.length} were left out.`;
    }
    if (wasEmpty || !this.items[this.selected]) this.selected = 0;
    if (added.length) this.touched();
    this.render();
  }

  // An image from the media library ({ id, url, thumb, width, height, alt }).
  addLibrary(data) {
    if (this.items.length >= this.limits.media_items) {
      this.message = `A carousel holds ${this.limits.media_items} images.`;
      this.render();
      return;
    }
    const item = { ...keptItem(data), id: null, library: data.id };
    const wasEmpty = !this.items.length;
    this.items.push(item);
    if (wasEmpty) this.shape.ratio = this.shape.defaultRatio(item);
    this.selected = this.items.length - 1;
    this.touched();
    this.render();
  }

  async replaceWith(file) {
    const index = this.replacing;
    this.replaceInput.value = '';
    if (!file || index === null || !this.items[index]) return;
    const item = await newItem(file);
    item.alt = this.items[index].alt;
    forget(this.items[index]);
    this.items[index] = item;
    this.touched();
    this.select(index);
  }

  remove(index) {
    forget(this.items[index]);
    this.items.splice(index, 1);
    this.touched();
    if (this.selected >= this.items.length) this.selected = Math.max(0, this.items.length - 1);
    this.render();
    const buttons = this.filmstrip.querySelectorAll('[data-film-select]');
    (buttons[Math.min(index, buttons.length - 1)] || this.input).focus();
  }

  move(from, to) {
    if (from === to || to < 0 || to >= this.items.length) return;
    const chosen = this.items[this.selected];
    const [item] = this.items.splice(from, 1);
    this.items.splice(to, 0, item);
    this.selected = this.items.indexOf(chosen);
    this.touched();
    this.render();
  }

  select(index) {
    this.selected = index;
    this.render();
  }

  // -- one shape for every image (carouselShape.js) ------------------------

  setRatio(value) {
    this.shape.ratio = value;
    this.touched();
    this.renderRatio();
    const item = this.items[this.selected];
    if (item) this.cropView.setRatio(this.shape.ratioFor(this.selected), this.limits.image);
  }

  cropped(crop, byHand) {
    const item = this.items[this.selected];
    if (item) item.crop = crop;
    if (byHand) this.touched();
  }

  setMode(mode) {
    this.mode = mode;
    this.renderEditor();
  }

  // -- drawing -------------------------------------------------------------------

  render() {
    const count = this.items.length;
    this.workspace.hidden = count === 0;
    this.altField.hidden = count === 0;
    this.input.required = count === 0;
    this.root.classList.toggle('is-carousel', count > 1);
    const videos = this.items.filter((item) => item.video).length;
    this.fitField.hidden = videos === 0;
    const things = videos
      ? `${plural(count - videos, 'photo')} and ${plural(videos, 'video')}`
      : `${count} images`;
    const kind = count > 1 ? `${things}: a carousel` : `${count} ${videos ? 'video' : 'image'}`;
    const room = this.limits.media_items - count;
    const more = room > 0 ? ` You can add ${room} more.` : '';
    this.note.textContent = count ? `${kind}.${more} ${this.message || ''}`.trim() : '';
    this.message = '';
    this.renderFilmstrip();
    this.renderRatio();
    this.renderBackground();
    if (count) this.renderEditor();
    else this.cropView.destroy();
  }

  renderFilmstrip() {
    renderFilmstrip(this.filmstrip, this.filmTemplate, this.items.length, this.selected, {
      select: (index) => this.select(index),
      move: (from, to) => this.move(from, to),
      replace: (index) => this.pickReplacement(index),
      remove: (index) => this.remove(index),
      thumb: (index) => this.items[index].thumb,
      video: (index) => this.items[index].video,
    });
  }

  pickReplacement(index) {
    this.replacing = index;
    this.replaceInput.click();
  }

  renderRatio() {
    this.ratioButtons.forEach((button) => {
      const active = button.dataset.ratio === this.shape.ratio;
      button.classList.toggle('active', active);
      button.setAttribute('aria-pressed', String(active));
    });
  }

  renderEditor() {
    const index = this.selected;
    const item = this.items[index];
    const number = index + 1;
    const noun = item.video ? 'Video' : 'Image';
    this.title.textContent =
      this.items.length > 1
        ? `${noun} ${number} of ${this.items.length}`
        : `The ${noun.toLowerCase()}`;
    this.altLabel.textContent = `Alt text for image ${number}`;
    this.altInput.value = item.alt;
    // Instagram takes no alt text or people tags on a video in a carousel.
    this.altField.hidden = item.video;
    this.modeButtons.forEach((button) => {
      const active = button.dataset.mode === this.mode;
      button.classList.toggle('active', active);
      button.setAttribute('aria-pressed', String(active));
      if (button.dataset.mode === 'tags') button.disabled = !item.preview || item.video;
    });
    const tagging = this.mode === 'tags' && item.preview && !item.video;
    this.cropPane.hidden = tagging;
    this.tagPane.hidden = !tagging;
    if (item.video) {
      this.cropView.showStill(
        item.thumb,
        `Video ${number}${item.duration ? `, ${item.duration.toFixed(1)} s` : ''}: sent as it is; ` +
          "Ospost fits it to the carousel's shape (below) and converts it for Instagram.",
      );
    } else if (!item.preview) {
      this.cropView.showWithoutPreview(item.name);
    } else if (tagging) {
      this.cropView.destroy();
      this.showTags(item, index);
    } else {
      this.cropView.show(item.url, this.shape.cropOf(item, index), {
        ratio: this.shape.ratioFor(index),
        limits: this.limits.image,
        showGrid: index === 0,
        background: this.backgroundColor(),
      });
    }
  }

  async showTags(item, index) {
    const canvas = await drawCrop(
      item.url,
      this.shape.cropOf(item, index),
      PREVIEW_SIDE,
      PREVIEW_SIDE,
      this.backgroundColor() || '#fff',
    );
    if (this.items[this.selected] !== item) return; // another image was chosen meanwhile
    this.tagger.show(item.tags, canvas.toDataURL('image/jpeg', 0.85), index + 1);
  }

  // -- sending -------------------------------------------------------------------

  // Put the images into `data` (a FormData of the post form) in their order.
  async appendTo(data) {
    FORM_FIELDS.forEach((name) => data.delete(name));
    let uploads = 0;
    for (const [index, item] of this.items.entries()) {
      const number = index + 1;
      if (item.id !== null && (item.video || !this.needsUpload(item, index))) {
        data.append('item', `keep:${item.id}`);
      } else if (item.video) {
        data.append('media', item.file, item.file.name);
        data.append('item', `new:${uploads}`);
        uploads += 1;
      } else if (item.library && !this.needsUpload(item, index)) {
        data.append('item', `lib:${item.library}`);
      } else {
        data.append('media', await this.output(item, index), `image-${number}.jpg`);
        data.append('item', `new:${uploads}`);
        uploads += 1;
      }
      data.append('item_alt_text', item.video ? '' : item.alt.trim());
      data.append('item_user_tags', JSON.stringify(item.video ? [] : item.tags));
    }
  }

  // A kept image is sent again only when its crop no longer covers all of it
  // (moved by hand, or cut to a new shape).
  needsUpload(item, index) {
    const crop = this.shape.cropOf(item, index);
    const { width, height } = item.natural;
    return crop.x > 1 || crop.y > 1 || width - crop.width > 2 || height - crop.height > 2;
  }

  async output(item, index) {
    if (!item.preview) return item.file; // the server crops what it can
    const { max_width: maxWidth, max_height: maxHeight } = this.limits.image;
    const crop = this.shape.cropOf(item, index);
    const background = this.backgroundColor() || '#fff';
    const canvas = await drawCrop(item.url, crop, maxWidth, maxHeight, background);
    return canvasToJpeg(canvas);
  }
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function keptItem(data) {
  return {
    key: nextKey++,
    id: data.id,
    file: null,
    url: data.url,
    thumb: data.thumb,
    name: `image ${data.id}`,
    natural: { width: data.width, height: data.height },
    crop: null,
    alt: data.alt || '',
    tags: (data.tags || []).map((tag) => ({ ...tag })),
    preview: Boolean(data.url && data.width && data.height),
    transparent: false, // stored images are JPEGs, already flattened
    objectUrl: null,
    video: Boolean(data.video),
    duration: null,
  };
}

async function newItem(file) {
  if (isVideoFile(file)) return newVideoItem(file);
  const url = URL.createObjectURL(file);
  const image = await loadImage(url);
  return {
    key: nextKey++,
    id: null,
    file,
    url,
    thumb: image ? url : '',
    name: file.name,
    natural: image ? { width: image.naturalWidth, height: image.naturalHeight } : null,
    crop: null,
    alt: '',
    tags: [],
    preview: Boolean(image),
    transparent: Boolean(image) && hasTransparency(image),
    objectUrl: url,
    video: false,
    duration: null,
  };
}

async function newVideoItem(file) {
  const { url, poster, natural, duration } = await readVideo(file);
  return {
    key: nextKey++,
    id: null,
    file,
    url,
    thumb: poster,
    name: file.name,
    natural,
    crop: null,
    alt: '',
    tags: [],
    preview: false,
    transparent: false,
    objectUrl: url,
    video: true,
    duration,
  };
}

function forget(item) {
  if (item && item.objectUrl) URL.revokeObjectURL(item.objectUrl);
}
