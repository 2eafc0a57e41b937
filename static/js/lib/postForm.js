// The New post and Edit post form: image picker with cropper, caption counters,
// date limits, and sending the form with the cropped image and upload progress.
// The limits come from the form's data-limits (helpers.client_limits()).

import { clearAlerts, showAlert } from './alerts.js';
import { setupMediaComposer } from './carousel.js';
import { setupCaptionCounter } from './caption.js';
import { CropImage } from './cropImage.js';
import { setupDateLimits } from './dateLimits.js';
import { setFormBusy } from './forms.js';
import { uploadForm } from './http.js';

// Wire up a [data-post-form]. `onImageChange(hasFile)` is told when an image is
// chosen or removed (the edit page hides the current image meanwhile).
export function setupPostForm(form, { onImageChange } = {}) {
  const limits = JSON.parse(form.dataset.limits);
  const cropRoot = form.querySelector('[data-crop-image]');
  const cropImage = cropRoot
    ? new CropImage(cropRoot, { limits: limits.image, onChange: onImageChange })
    : null;
  const media = setupMediaComposer(form, limits);
  setupCaptionCounter(form.querySelector('[data-caption-input]'), limits.caption);
  setupDateLimits(form.querySelector('[data-date-input]'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitPostForm(form, cropImage, media);
  });
}

// Send an add/edit post form as the server expects, with the cropped image.
async function submitPostForm(form, cropImage, media) {
  const button = form.querySelector('[data-submit]');
  const progress = form.querySelector('[data-upload-progress]');
  const bar = progress.querySelector('.progress-bar');
  const alerts = form.querySelector('[data-form-alerts]');
  const data = new FormData(form);
  clearAlerts(alerts);
  setFormBusy(form, true);
  button.setAttribute('aria-busy', 'true');
  try {
    data.delete('image');
    if (cropImage && cropImage.file) {
      const blob = await cropImage.toBlob();
      data.append('image', blob, cropImage.cropper ? 'photo.jpg' : cropImage.file.name);
    }
    if (media) await media.appendTo(data);
    const setProgress = (fraction) => {
      const percent = Math.round(fraction * 100);
      bar.style.width = `${percent}%`;
      progress.setAttribute('aria-valuenow', String(percent));
    };
    setProgress(0);
    progress.hidden = false;
    const result = await uploadForm(form.action, data, setProgress);
    window.location.assign(result.redirect);
  } catch (err) {
    progress.hidden = true;
    setFormBusy(form, false);
    button.removeAttribute('aria-busy');
    showAlert(err.message, 'danger', alerts);
  }
}
