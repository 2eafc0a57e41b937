// The image picker with cropperjs: shows the chosen image, offers the shapes
// Instagram accepts (4:5 to 1.91:1), frames the part the profile grid shows
// (3:4, centred), and turns the crop into a JPEG for upload. An image with
// transparent areas gets a colour picker: the preview shows that colour
// behind them, and the JPEG (and the server, for files sent as they are) is
// flattened on it. The shapes and the output size come from the server
// (data-limits' "image").

// cropperjs's own ES module build, served by app.py's /vendor route (VENDOR_FILES).
import Cropper from '/vendor/cropper.esm.js';

// The profile grid's tiles are 3:4 and show the centre of each post.
const GRID_RATIO = 3 / 4;
// Transparency is looked for on a copy at most this many pixels wide or high.
const ALPHA_SAMPLE = 256;

export class CropImage {
  // `limits` is {min_ratio, max_ratio, max_width, max_height}; `onChange(hasFile)`
  // is told when an image is chosen or removed.
  constructor(root, { limits, onChange } = {}) {
    this.root = root;
    this.limits = limits;
    this.input = root.querySelector('[data-crop-input]');
    this.picker = root.querySelector('[data-crop-picker]');
    this.panel = root.querySelector('[data-crop-panel]');
    this.stage = root.querySelector('[data-crop-stage]');
    this.info = root.querySelector('[data-crop-info]');
    this.ratioGroup = root.querySelector('[data-crop-ratios]');
    this.ratioButtons = [...root.querySelectorAll('[data-ratio]')];
    this.onChange = onChange || (() => {});
    this.backgroundField = root.querySelector('[data-crop-background]');
    this.colorInput = root.querySelector('[data-crop-color]');
    this.gridCut = null;
    this.transparent = false;
    this.cropper = null;
    this.file = null;
    this.ratio = 'free';
    this.clamping = false;

    this.input.addEventListener('change', () => this.load(this.input.files[0]));
    this.ratioButtons.forEach((button) => {
      button.addEventListener('click', () => this.setRatio(button.dataset.ratio));
    });
    root.querySelector('[data-crop-remove]').addEventListener('click', () => this.remove());
    this.colorInput.addEventListener('input', () => this.paintBackground());
    // A file chosen before this script ran, or restored by the browser.
    if (this.input.files.length) this.load(this.input.files[0]);
  }

  load(file) {
    this.destroyCropper();
    if (!file) return;
    this.file = file;
    this.picker.hidden = true;
    this.panel.hidden = false;
    this.info.textContent = `Loading ${file.name}…`;
    this.onChange(true);
    const reader = new FileReader();
    // A data: URL lets cropperjs read the EXIF orientation without an XHR.
    reader.addEventListener('load', () => this.show(reader.result, file));
    reader.addEventListener('error', () => this.showWithoutPreview(file));
    reader.readAsDataURL(file);
  }

  show(dataUrl, file) {
    if (this.file !== file) return; // another file was chosen meanwhile
    const image = document.createElement('img');
    image.alt = 'The image to crop';
    image.className = 'crop-img';
    image.addEventListener(
      'load',
      () => {
        this.cropper = new Cropper(image, {
          viewMode: 1,
          dragMode: 'move',
          autoCropArea: 1,
          background: false,
          // Keep the crop when the window resizes (a phone turned sideways).
          restore: true,
          zoomOnWheel: false,
          toggleDragModeOnDblclick: false,
          ready: () => {
            this.addGridCut();
            this.paintBackground();
            this.applyDefaultRatio();
          },
          crop: () => {
            this.clampFreeCrop();
            this.drawGridCut();
          },
          cropend: () => this.describe(),
        });
      },
      { once: true },
    );
    image.addEventListener('error', () => this.showWithoutPreview(file), { once: true });
    image.addEventListener('load', () => this.offerBackground(hasTransparency(image)), {
      once: true,
    });
    this.stage.replaceChildren(image);
    image.src = dataUrl;
  }

  // The colour picker, for images with see-through areas only (a JPEG has none).
  offerBackground(transparent) {
    this.transparent = transparent;
    this.backgroundField.hidden = !transparent;
    this.colorInput.disabled = !transparent;
  }

  // Show the chosen colour behind the image, as it will be posted.
  paintBackground() {
    const color = this.backgroundColor() || '';
    this.stage.style.backgroundColor = color;
    const view = this.stage.querySelector('.cropper-view-box');
    if (view) view.style.backgroundColor = color;
  }

  // The colour chosen for see-through areas, or null when the image has none.
  // (Not the input's disabled state: the form disables it while sending.)
  backgroundColor() {
    return this.transparent ? this.colorInput.value : null;
  }

  // The grid's 3:4 cut inside the crop box: a dashed frame, the rest shaded.
  addGridCut() {
    const box = this.stage.querySelector('.cropper-crop-box');
    if (!box) return;
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
  }

  drawGridCut() {
    if (!this.gridCut || !this.cropper) return;
    const { width, height } = this.cropper.getData();
    if (!width || !height) return;
    // Every accepted shape is at least as wide as 3:4, so the grid cuts the sides.
    const side = Math.max(0, (1 - (height * GRID_RATIO) / width) / 2) * 100;
    const { left, right, frame } = this.gridCut;
    left.style.width = `${side}%`;
    right.style.width = `${side}%`;
    frame.style.left = `${side}%`;
    frame.style.right = `${side}%`;
  }

  // HEIC in most browsers: no preview, the server crops it to an accepted shape.
  showWithoutPreview(file) {
    this.stage.replaceChildren();
    this.ratioGroup.hidden = true;
    this.info.textContent =
      `This browser cannot show ${file.name}, so it cannot be cropped here. ` +
      'It is uploaded as it is: its shape must already be between 4:5 and 1.91:1 ' +
      '(most phone photos are). To crop it, save it as JPEG first.';
  }

  // The largest compliant crop: the whole image if its shape is allowed.
  applyDefaultRatio() {
    const { min_ratio: minRatio, max_ratio: maxRatio } = this.limits;
    const { naturalWidth, naturalHeight } = this.cropper.getCanvasData();
    const ratio = naturalWidth / naturalHeight;
    // String(ratio) is the data-ratio of its button (rendered from the same limits).
    if (ratio > maxRatio) this.setRatio(String(maxRatio));
    else if (ratio < minRatio) this.setRatio(String(minRatio));
    else this.setRatio('free');
  }

  setRatio(value) {
    if (!this.cropper) return;
    this.ratio = value;
    this.cropper.setAspectRatio(value === 'free' ? NaN : Number(value));
    this.ratioButtons.forEach((button) => {
      const active = button.dataset.ratio === value;
      button.classList.toggle('active', active);
      button.setAttribute('aria-pressed', String(active));
    });
    this.clampFreeCrop();
    this.describe();
  }

  // A free crop must still be between 4:5 and 1.91:1: shrink the long side.
  clampFreeCrop() {
    if (!this.cropper || this.ratio !== 'free' || this.clamping) return;
    const { min_ratio: minRatio, max_ratio: maxRatio } = this.limits;
    const data = this.cropper.getData();
    if (!data.width || !data.height) return;
    const ratio = data.width / data.height;
    if (ratio >= minRatio && ratio <= maxRatio) return;
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

  describe() {
    if (!this.cropper) return;
    const { width, height } = this.cropper.getData(true);
    if (!width || !height) return;
    this.info.textContent = `Crop: ${width} × ${height} px (${(width / height).toFixed(2)}:1).`;
  }

  remove() {
    this.destroyCropper();
    this.file = null;
    this.offerBackground(false);
    this.stage.style.backgroundColor = '';
    this.input.value = '';
    this.stage.replaceChildren();
    this.info.textContent = '';
    this.ratioGroup.hidden = false;
    this.panel.hidden = true;
    this.picker.hidden = false;
    this.onChange(false);
    this.input.focus();
  }

  destroyCropper() {
    if (this.cropper) this.cropper.destroy();
    this.cropper = null;
    this.gridCut = null;
  }

  // At most max_width x max_height (1440 x 1800), from the crop at full
  // resolution. (cropperjs's own maxWidth/maxHeight also shrink the whole source
  // image first, which would leave a small crop of a big photo far below
  // Instagram's 1080 px.)
  outputSize() {
    const { max_width: maxWidth, max_height: maxHeight } = this.limits;
    const { width, height } = this.cropper.getData();
    const scale = Math.min(1, maxWidth / width, maxHeight / height);
    return {
      width: Math.round(width * scale),
      height: Math.round(height * scale),
      fillColor: this.backgroundColor() || '#fff',
      imageSmoothingQuality: 'high',
    };
  }

  // The image to upload: the crop as a JPEG, or the original file without preview.
  toBlob() {
    if (!this.cropper) return Promise.resolve(this.file);
    this.clampFreeCrop();
    const canvas = this.cropper.getCroppedCanvas(this.outputSize());
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
}

// True when the image has at least one pixel that is not fully opaque.
function hasTransparency(image) {
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
