// The image picker with cropperjs: shows the chosen image, offers the shapes
// Instagram accepts (4:5 to 1.91:1), and turns the crop into a JPEG for upload.
// The shapes and the output size come from the server (data-limits' "image").

// cropperjs's own ES module build, served by app.py's /vendor route (VENDOR_FILES).
import Cropper from '/vendor/cropper.esm.js';

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
    this.cropper = null;
    this.file = null;
    this.ratio = 'free';
    this.clamping = false;

    this.input.addEventListener('change', () => this.load(this.input.files[0]));
    this.ratioButtons.forEach((button) => {
      button.addEventListener('click', () => this.setRatio(button.dataset.ratio));
    });
    root.querySelector('[data-crop-remove]').addEventListener('click', () => this.remove());
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
          restore: false,
          zoomOnWheel: false,
          toggleDragModeOnDblclick: false,
          ready: () => this.applyDefaultRatio(),
          crop: () => this.clampFreeCrop(),
          cropend: () => this.describe(),
        });
      },
      { once: true },
    );
    image.addEventListener('error', () => this.showWithoutPreview(file), { once: true });
    this.stage.replaceChildren(image);
    image.src = dataUrl;
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
      fillColor: '#fff',
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
