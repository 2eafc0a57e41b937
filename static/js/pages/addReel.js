// New Reel / New Story page, and a saved one's form on its post page
// (data-editing): pick the video (or a Story's photo), preview it at 9:16 (a
// Story's with Instagram's safe areas), choose a Reel's cover with a slider
// over the video's timeline or an uploaded image, and upload with a real
// progress bar and a Cancel button. When editing, the file is optional (the
// saved video stays, and the slider runs over it). "Save draft" sends the
// same form to its own address, without needing a time. The server checks
// everything again; its problems show at their fields. Limits come from
// data-video-limits.

import { clearAlerts, showAlert } from '../lib/alerts.js';
import { setupCaptionCounter } from '../lib/caption.js';
import { dateProblem, setupDateLimits } from '../lib/dateLimits.js';
import { reportProblems, setFieldError, showFieldErrors } from '../lib/fieldErrors.js';
import { setFormBusy } from '../lib/forms.js';
import { uploadForm } from '../lib/http.js';
import { guardUnsavedChanges } from '../lib/unsavedChanges.js';

const LABELS = {
  media: 'Video',
  cover: 'Cover image',
  thumb_offset: 'Cover frame',
  fit: 'Make the video 9:16',
  caption: 'Caption',
  collaborators: 'Collaborators',
  first_comment: 'First comment',
  date: 'Publish at',
};

function megabytes(bytes) {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}

// The largest upload, as the page says it (VIDEO_MAX_UPLOAD_MB).
function limitText(limits) {
  return `${limits.max_upload_mb} MB`;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

// The file's problem the browser can see (size, kind, length), or ''.
// Editing, no file means "keep the saved one".
function fileProblem(file, state, durationS) {
  const { kind, limits } = state;
  if (!file) {
    if (state.editing) return '';
    return kind === 'reel' ? 'Choose a video to post.' : 'Choose a photo or video to post.';
  }
  if (file.size > limits.max_upload_bytes) {
    return `This file is ${megabytes(file.size)}; the limit is ${limitText(limits)}.`;
  }
  const isImage = file.type.startsWith('image/');
  if (kind === 'reel' && isImage) {
    return 'This file is a photo, not a video. To post a photo, choose Feed post or Story.';
  }
  if (durationS !== null) {
    const { min_s: min, max_s: max } = limits[kind];
    const noun = kind === 'reel' ? 'a Reel' : 'a Story';
    if (durationS < min)
      return `This video is ${durationS.toFixed(1)} s long; ${noun} must be at least ${min} s.`;
    if (durationS > max)
      return `This video is ${Math.round(durationS)} s long; ${noun} may be at most ${max} s.`;
  }
  return '';
}

// The cover slider over `durationMs` of video, starting at the chosen frame.
function setSliderRange(form, durationMs) {
  const range = form.querySelector('[data-offset-range]');
  if (!range) return;
  const offset = form.querySelector('[data-offset-value]');
  const label = form.querySelector('[data-offset-label]');
  range.max = String(Math.floor(durationMs));
  range.disabled = false;
  const start = Math.min(Number(offset.value) || 0, Number(range.max));
  range.value = String(start);
  label.textContent = seconds(start);
  range.setAttribute('aria-valuetext', seconds(start));
}

// Editing: the preview plays the saved video (when the browser can), and the
// slider runs over its length as the server knows it.
function showSavedVideo(form, preview, video) {
  const url = preview.dataset.savedVideo;
  if (!url) {
    preview.hidden = true;
    return;
  }
  setSliderRange(form, Number(preview.dataset.savedDuration) || 0);
  video.hidden = false;
  video.src = url;
  preview.hidden = false;
}

function setupPreview(form, state) {
  const input = form.querySelector('[data-media-input]');
  const preview = form.querySelector('[data-preview]');
  const video = form.querySelector('[data-preview-video]');
  const photo = form.querySelector('[data-preview-photo]');
  const range = form.querySelector('[data-offset-range]');
  const offset = form.querySelector('[data-offset-value]');
  const label = form.querySelector('[data-offset-label]');
  let url = null;
  if (state.editing) {
    showSavedVideo(form, preview, video);
    // A saved video the browser cannot play: the slider still picks the frame.
    video.addEventListener('error', () => {
      if (!input.files[0]) preview.hidden = true;
    });
  }
  input.addEventListener('change', () => {
    const file = input.files[0] || null;
    state.durationS = null;
    if (url) URL.revokeObjectURL(url);
    url = null;
    setFieldError(form, 'media', '');
    if (!file) {
      if (state.editing) showSavedVideo(form, preview, video);
      else preview.hidden = true;
      return;
    }
    const problem = fileProblem(file, state, null);
    if (problem) {
      setFieldError(form, 'media', problem);
      preview.hidden = true;
      return;
    }
    url = URL.createObjectURL(file);
    const isImage = file.type.startsWith('image/');
    video.hidden = isImage;
    photo.hidden = !isImage;
    if (isImage) photo.src = url;
    else video.src = url;
    preview.hidden = false;
  });
  video.addEventListener('loadedmetadata', () => {
    const file = input.files[0] || null;
    if (file) {
      state.durationS = video.duration;
      setFieldError(form, 'media', fileProblem(file, state, video.duration));
    }
    if (range) {
      setSliderRange(form, video.duration * 1000);
      video.currentTime = Number(range.value) / 1000;
    }
  });
  if (range) {
    range.addEventListener('input', () => {
      const ms = Number(range.value);
      offset.value = String(ms);
      video.currentTime = ms / 1000;
      label.textContent = seconds(ms);
      range.setAttribute('aria-valuetext', seconds(ms));
    });
  }
}

// The preview shows what "black bars" or "crop the middle" will make.
function setupFitPreview(form) {
  const frame = form.querySelector('.reel-frame');
  const update = () => {
    const chosen = form.querySelector('[data-fit]:checked');
    frame.classList.toggle('fit-crop', Boolean(chosen && chosen.value === 'crop'));
  };
  form.querySelectorAll('[data-fit]').forEach((radio) => radio.addEventListener('change', update));
  update();
}

// A Reel's cover: a frame (the slider) or an uploaded image.
function setupCoverChoice(form) {
  const frame = form.querySelector('[data-cover-frame]');
  const upload = form.querySelector('[data-cover-upload]');
  const coverInput = form.querySelector('[data-cover-input]');
  const offset = form.querySelector('[data-offset-value]');
  if (!frame) return;
  const update = () => {
    const chosen = form.querySelector('[data-cover-source]:checked');
    const useImage = Boolean(chosen && chosen.value === 'image');
    upload.hidden = !useImage;
    frame.hidden = useImage;
    coverInput.disabled = !useImage;
    offset.disabled = useImage; // not sent: Meta uses cover_url then
  };
  form.querySelectorAll('[data-cover-source]').forEach((radio) => {
    radio.addEventListener('change', () => {
      update();
      setFieldError(form, 'cover', '');
    });
  });
  update();
}

// What the browser can see is wrong; a draft needs no time.
function browserProblems(form, state, draft) {
  const problems = {};
  const file = form.querySelector('[data-media-input]').files[0] || null;
  const media = fileProblem(file, state, state.durationS);
  if (media) problems.media = media;
  const cover = form.querySelector('[data-cover-input]');
  const kept = cover && cover.hasAttribute('data-cover-kept');
  if (cover && !cover.disabled && !cover.files.length && !kept) {
    problems.cover = 'Choose the cover image, or pick a frame of the video instead.';
  }
  const caption = form.querySelector('[data-caption-input]');
  if (caption && caption.validationMessage && !draft) {
    problems.caption = caption.validationMessage;
  }
  if (draft) return problems;
  const date = dateProblem(form.querySelector('[data-date-input]'));
  if (date) problems.date = date;
  return problems;
}

// Sends the form (to the pressed button's formaction: "Save draft").
async function send(form, guard, url) {
  const progress = form.querySelector('[data-upload-progress]');
  const bar = progress.querySelector('.progress-bar');
  const status = form.querySelector('[data-upload-status]');
  const cancel = form.querySelector('[data-cancel-upload]');
  const alerts = form.querySelector('[data-form-alerts]');
  const data = new FormData(form);
  const controller = new AbortController();
  clearAlerts(alerts);
  showFieldErrors(form, {});
  setFormBusy(form, true);
  cancel.disabled = false;
  cancel.hidden = false;
  const onCancel = () => controller.abort();
  cancel.addEventListener('click', onCancel, { once: true });
  const setProgress = (fraction) => {
    const percent = Math.round(fraction * 100);
    bar.style.width = `${percent}%`;
    progress.setAttribute('aria-valuenow', String(percent));
    status.textContent = percent < 100 ? `Uploading… ${percent}%` : 'Uploaded. Checking the video…';
  };
  setProgress(0);
  progress.hidden = false;
  try {
    const result = await uploadForm(url, data, setProgress, controller.signal);
    guard.release();
    window.location.assign(result.redirect);
  } catch (err) {
    progress.hidden = true;
    status.textContent = '';
    cancel.hidden = true;
    cancel.removeEventListener('click', onCancel);
    setFormBusy(form, false);
    const fields = (err.data && err.data.fields) || null;
    if (fields && Object.keys(fields).length) reportProblems(form, fields, LABELS);
    else showAlert(err.message, err.cancelled ? 'warning' : 'danger', alerts);
  }
}

function setupReelForm(form) {
  const limits = JSON.parse(form.dataset.limits);
  const state = {
    kind: form.dataset.kind,
    limits: JSON.parse(form.dataset.videoLimits),
    durationS: null,
    editing: form.hasAttribute('data-editing'),
  };
  const caption = form.querySelector('[data-caption-input]');
  if (caption) {
    setupCaptionCounter(caption, limits.caption);
    caption.addEventListener('input', () =>
      setFieldError(form, 'caption', caption.validationMessage),
    );
  }
  const comment = form.querySelector('[data-first-comment-input]');
  if (comment) setupCaptionCounter(comment, limits.caption, { noun: 'first comment' });
  const date = form.querySelector('[data-date-input]');
  setupDateLimits(date);
  date.addEventListener('change', () => setFieldError(form, 'date', dateProblem(date)));
  setupPreview(form, state);
  setupCoverChoice(form);
  setupFitPreview(form);
  const guard = guardUnsavedChanges(form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submitter = event.submitter;
    const own = Boolean(submitter && submitter.hasAttribute('formaction'));
    const draft = own && submitter.hasAttribute('data-draft');
    const problems = browserProblems(form, state, draft);
    if (Object.keys(problems).length) {
      reportProblems(form, problems, LABELS);
      return;
    }
    send(form, guard, own ? submitter.formAction : form.action);
  });
}

const form = document.querySelector('[data-reel-form]');
if (form) setupReelForm(form);
