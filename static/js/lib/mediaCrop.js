// Cropping the images of a post: one shape for all of them (Instagram crops a
// carousel to its first image's shape), each with its own position. The
// chosen image is cropped with cropperjs; every image is cut out again from
// its stored crop when the form is sent. Crops are in the image's natural
// pixels, as the browser shows it (EXIF orientation applied).

// cropperjs's own ES module build, served by app.py's /vendor route.
import Cropper from '/vendor/cropper.esm.js';

// Instagram's profile grid shows posts as 3:4 tiles, cut from the middle.
const GRID_TILE_RATIO = 3 / 4;
// Transparency is looked for on a copy at most this many pixels wide or high.
const ALPHA_SAMPLE = 256;

// The largest crop of `ratio` (width / height) inside an image of `natural`
// size, centred on `center` ({x, y}, default the middle) as far as it fits.
export function fitCrop(natural, ratio, center) {
  const { width: imageWidth, height: imageHeight } = natural;
  let width = imageWidth;
  let height = width / ratio;
  if (height > imageHeight) {
    height = imageHeight;
    width = height * ratio;
  }
  const cx = center ? center.x : imageWidth / 2;
  const cy = center ? center.y : imageHeight / 2;
  const x = Math.min(Math.max(cx - width / 2, 0), imageWidth - width);
  const y = Math.min(Math.max(cy - height / 2, 0), imageHeight - height);
  return { x, y, width, height };
}

export function centerOf(crop) {
  return { x: crop.x + crop.width / 2, y: crop.y + crop.height / 2 };
}

// The shape a free crop of an image may have: its own, within Instagram's range.
export function clampRatio(ratio, limits) {
  return Math.min(Math.max(ratio, limits.min_ratio), limits.max_ratio);
}

// An <img> with `url` decoded (its natural size known), or null if the browser
// cannot show it (HEIC in most browsers).
export async function loadImage(url) {
  const image = new Image();
  image.src = url;
  try {
    await image.decode();
  } catch {
    return null;
  }
  return image;
}

// True when the image has at least one pixel that is not fully opaque.
export function hasTransparency(image) {
  const scale = Math.min(1, ALPHA_SAMPLE / Math.max(image.naturalWidth, image.naturalHeight));
  const width = Math.max(1, Math.round(image.naturalWidth * scale));
  const height = Math.max(1, Math.round(image.naturalHeight * scale));
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(image, 0, 0, width, height);
  const { data } = context.getImageData(0, 0, width, height);
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] < 255) return true;
  }
  return false;
}

// The crop of the image at `url`, at most `maxWidth` x `maxHeight`, drawn on
// a canvas with `background` behind transparent pixels (Instagram has none).
export async function drawCrop(url, crop, maxWidth, maxHeight, background = '#fff') {
  const image = await loadImage(url);
  if (!image) throw new Error('This image could not be read. Remove it or try another.');
  const scale = Math.min(1, maxWidth / crop.width, maxHeight / crop.height);
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(crop.width * scale));
  canvas.height = Math.max(1, Math.round(crop.height * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = background;
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingQuality = 'high';
  context.drawImage(
    image,
    crop.x,
    crop.y,
    crop.width,
    crop.height,
    0,
    0,
    canvas.width,
    canvas.height,
  );
  return canvas;
}

export function canvasToJpeg(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => {
        if (blob) resolve(blob);
        else reject(new Error('The cropped image could not be made. Try another image.'));
      },
      'image/jpeg',
      0.92,
    );
  });
}

// The cropper of the chosen image, in the workspace's crop stage.
export class CropView {
  // `onCrop(crop)` hears every change of the crop.
  constructor(stage, info, gridNote, { onCrop }) {
    this.stage = stage;
    this.info = info;
    this.gridNote = gridNote;
    this.onCrop = onCrop;
    this.cropper = null;
    this.gridCut = null;
    this.clamp = null;
    this.background = null;
  }

  // Show `color` behind see-through areas (null: none), as it will be posted.
  paint(color) {
    this.background = color;
    const shown = color || '';
    this.stage.style.backgroundColor = shown;
    const view = this.stage.querySelector('.cropper-view-box');
    if (view) view.style.backgroundColor = shown;
  }

  // Show `url` cropped to `crop`; `ratio` is a number, or null for a free
  // crop kept within `limits`; `showGrid` draws the 3:4 tile of the grid;
  // `background` goes behind see-through areas.
  show(url, crop, { ratio, limits, showGrid, background }) {
    this.destroy();
    const image = document.createElement('img');
    image.alt = 'The image to crop';
    image.className = 'crop-img';
    this.clamp = ratio ? null : limits;
    image.addEventListener(
      'load',
      () => {
        this.cropper = new Cropper(image, {
          viewMode: 1,
          dragMode: 'move',
          autoCropArea: 1,
          aspectRatio: ratio || NaN,
          data: crop,
          background: false,
          restore: false,
          zoomOnWheel: false,
          toggleDragModeOnDblclick: false,
          // The browser already turns the photo upright (EXIF): crops are in
          // the pixels it shows, which is what drawCrop() cuts out again.
          checkOrientation: false,
          ready: () => {
            this.addGridCut(showGrid);
            this.paint(background);
            this.changed(false);
          },
          crop: () => this.clampFreeCrop(),
          cropend: () => this.changed(true),
        });
      },
      { once: true },
    );
    this.stage.replaceChildren(image);
    image.src = url;
  }

  setRatio(ratio, limits) {
    if (!this.cropper) return;
    this.clamp = ratio ? null : limits;
    this.cropper.setAspectRatio(ratio || NaN);
    this.clampFreeCrop();
    this.changed(false);
  }

  // A free crop must still be between 4:5 and 1.91:1: shrink the long side.
  clampFreeCrop() {
    if (this.cropper && this.clamp && !this.clamping) {
      const data = this.cropper.getData();
      const ratio = data.width / data.height;
      const { min_ratio: minRatio, max_ratio: maxRatio } = this.clamp;
      if (data.width && data.height && (ratio < minRatio || ratio > maxRatio)) {
        this.clamping = true;
        if (ratio > maxRatio) {
          const width = data.height * maxRatio;
          this.cropper.setData({ x: data.x + (data.width - width) / 2, width });
        } else {
          const height = data.width / minRatio;
          this.cropper.setData({ y: data.y + (data.height - height) / 2, height });
        }
        this.clamping = false;
      }
    }
    this.placeGridCut();
  }

  // `byHand`: the person moved or resized the crop.
  changed(byHand) {
    if (!this.cropper) return;
    const { x, y, width, height } = this.cropper.getData(true);
    if (!width || !height) return;
    this.info.textContent = `Crop: ${width} × ${height} px (${(width / height).toFixed(2)}:1).`;
    this.placeGridCut();
    this.onCrop({ x, y, width, height }, byHand);
  }

  // The grid's 3:4 cut inside the crop box: a dashed frame, the rest shaded
  // (styles in css/cropImage.css).
  addGridCut(showGrid) {
    this.gridNote.hidden = !showGrid;
    const box = this.stage.querySelector('.cropper-crop-box');
    if (!showGrid || !box) return;
    const cut = document.createElement('div');
    cut.className = 'crop-grid-cut';
    cut.setAttribute('aria-hidden', 'true');
    const left = document.createElement('div');
    left.className = 'crop-grid-shade crop-grid-shade-left';
    const right = document.createElement('div');
    right.className = 'crop-grid-shade crop-grid-shade-right';
    const frame = document.createElement('div');
    frame.className = 'crop-grid-frame';
    cut.append(left, right, frame);
    box.append(cut);
    this.gridCut = { left, right, frame };
    this.placeGridCut();
  }

  placeGridCut() {
    if (!this.gridCut || !this.cropper) return;
    const { width, height } = this.cropper.getData();
    if (!width || !height) return;
    // Every accepted shape is at least as wide as 3:4, so the grid cuts the sides.
    const side = Math.max(0, (1 - (height * GRID_TILE_RATIO) / width) / 2) * 100;
    const { left, right, frame } = this.gridCut;
    left.style.width = `${side}%`;
    right.style.width = `${side}%`;
    frame.style.left = `${side}%`;
    frame.style.right = `${side}%`;
  }

  // A picture that is not cropped here (a video's poster frame), with a note.
  showStill(url, note) {
    this.destroy();
    const picture = document.createElement('img');
    picture.className = 'crop-still';
    picture.alt = '';
    if (url) picture.src = url;
    this.stage.replaceChildren(picture);
    this.gridNote.hidden = true;
    this.info.textContent = note;
  }

  showWithoutPreview(name) {
    this.destroy();
    this.stage.replaceChildren();
    this.gridNote.hidden = true;
    this.info.textContent =
      `This browser cannot show ${name}, so it cannot be cropped or tagged here. ` +
      'It is uploaded as it is: its shape must already match the other images ' +
      '(between 4:5 and 1.91:1). To crop it, save it as JPEG first.';
  }

  destroy() {
    if (this.cropper) this.cropper.destroy();
    this.cropper = null;
    this.gridCut = null;
  }
}
