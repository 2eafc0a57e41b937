// New post page: cropper, caption counters, date limits, upload with progress.
'use strict';

(function initAddPage() {
  const form = document.querySelector('[data-post-form]');
  if (!form) return;
  const cropImage = new CropImage(form.querySelector('[data-crop-image]'));
  setupCaptionCounter(form.querySelector('[data-caption-input]'));
  setupDateLimits(form.querySelector('[data-date-input]'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitPostForm(form, cropImage);
  });
})();
