// The New post and Edit post form: the image composer (carousel.js), caption
// and first-comment counters, date limits, and sending the form with the
// cropped images and upload progress. Problems show at their fields, all at
// once: the browser's own checks before sending, then the server's ("fields"
// in its answer). Leaving with unsaved changes asks first. The limits come
// from the form's data-limits (helpers.client_limits()).

import { clearAlerts, showAlert } from './alerts.js';
import { setupMediaComposer } from './carousel.js';
import { setupCaptionCounter } from './caption.js';
import { dateProblem, setupDateLimits } from './dateLimits.js';
import { reportProblems, setFieldError, showFieldErrors } from './fieldErrors.js';
import { setFormBusy } from './forms.js';
import { uploadForm } from './http.js';
import { guardUnsavedChanges } from './unsavedChanges.js';

const LABELS = {
  image: 'Media',
  caption: 'Caption',
  alt_text: 'Alt text',
  collaborators: 'Collaborators',
  first_comment: 'First comment',
  date: 'Publish at',
  background: 'Background colour',
};

// Wire up a [data-post-form]. Returns the unsaved-changes guard
// ({ isDirty(), release() }).
export function setupPostForm(form) {
  const limits = JSON.parse(form.dataset.limits);
  const media = setupMediaComposer(form, limits, {
    onChange: () => setFieldError(form, 'image', ''),
  });
  const caption = form.querySelector('[data-caption-input]');
  setupCaptionCounter(caption, limits.caption);
  const date = form.querySelector('[data-date-input]');
  setupDateLimits(date);
  // A passed time is pointed out as soon as the person leaves the field.
  date.addEventListener('change', () => setFieldError(form, 'date', dateProblem(date)));
  // caption.js keeps the caption's own validity up to date as it is typed.
  caption.addEventListener('input', () =>
    setFieldError(form, 'caption', caption.validationMessage),
  );
  const guard = guardUnsavedChanges(form, {
    extraDirty: () => Boolean(media && media.changed()),
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    // "Save draft" keeps whatever the form has: no date or image is required.
    // "Add to queue" (data-queue) needs a post ready to go, but no date.
    const own = Boolean(event.submitter && event.submitter.hasAttribute('formaction'));
    const queue = own && event.submitter.hasAttribute('data-queue');
    const problems = browserProblems(form, media, own && !queue, queue);
    if (Object.keys(problems).length) {
      reportProblems(form, problems, LABELS);
      return;
    }
    submitPostForm(form, media, guard, event.submitter);
  });
  return guard;
}

// Everything the browser can tell is wrong before sending, by field.
function browserProblems(form, media, draft, queue) {
  const problems = {};
  const imageProblem = media ? media.problem({ required: !draft }) : '';
  if (imageProblem) problems.image = imageProblem;
  if (draft) return problems;
  const caption = form.querySelector('[data-caption-input]');
  if (caption.validationMessage) problems.caption = caption.validationMessage;
  if (queue) return problems; // the server picks the time
  const dateMessage = dateProblem(form.querySelector('[data-date-input]'));
  if (dateMessage) problems.date = dateMessage;
  return problems;
}

// Send an add/edit post form as the server expects, with the cropped images,
// to the pressed button's formaction if it has one ("Save draft").
async function submitPostForm(form, media, guard, submitter) {
  const own = submitter && submitter.hasAttribute('formaction');
  const button = own ? submitter : form.querySelector('[data-submit]');
  const url = own ? submitter.formAction : form.action;
  const progress = form.querySelector('[data-upload-progress]');
  const bar = progress.querySelector('.progress-bar');
  const alerts = form.querySelector('[data-form-alerts]');
  const data = new FormData(form);
  clearAlerts(alerts);
  showFieldErrors(form, {});
  setFormBusy(form, true);
  button.setAttribute('aria-busy', 'true');
  try {
    if (media) await media.appendTo(data);
    const setProgress = (fraction) => {
      const percent = Math.round(fraction * 100);
      bar.style.width = `${percent}%`;
      progress.setAttribute('aria-valuenow', String(percent));
    };
    setProgress(0);
    progress.hidden = false;
    const result = await uploadForm(url, data, setProgress);
    guard.release();
    window.location.assign(result.redirect);
  } catch (err) {
    progress.hidden = true;
    setFormBusy(form, false);
    button.removeAttribute('aria-busy');
    const fields = (err.data && err.data.fields) || null;
    if (fields && Object.keys(fields).length) reportProblems(form, fields, LABELS);
    else showAlert(err.message, 'danger', alerts);
  }
}
