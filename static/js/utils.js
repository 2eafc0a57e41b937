// Shared helpers for every page: CSRF-aware requests, alerts, caption counting,
// date limits, status badges, and confirm() on forms that ask for it.
'use strict';

const NETWORK_ERROR = 'Ospost could not be reached. Check your connection and try again.';
const STATUS_LABELS = {
  scheduled: 'Scheduled',
  publishing: 'Publishing…',
  published: 'Published',
  failed: 'Failed',
};
const CAPTION_LIMITS = { chars: 2200, hashtags: 30, mentions: 20 };
// Python's \w (Unicode letters, digits, underscore), as the server counts them.
const HASHTAG_RE = /(?<![\p{L}\p{N}_#])#[\p{L}\p{N}_]+/gu;
const MENTION_RE = /(?<![\p{L}\p{N}_@])@[\p{L}\p{N}_.]+/gu;

class RequestError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : '';
}

function errorForStatus(status) {
  if (status === 401) return 'Your session ended. Log in again.';
  if (status === 413) return 'That file is too large to upload.';
  return `Something went wrong (HTTP ${status}). Try again.`;
}

// fetch() that sends the CSRF token, asks for JSON and rejects with a RequestError
// (carrying the server's error text) unless the response is ok.
async function fetchJson(url, { method = 'GET', json, body } = {}) {
  const headers = { Accept: 'application/json', 'X-CSRFToken': csrfToken() };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'same-origin' });
  } catch (err) {
    throw new RequestError(NETWORK_ERROR, 0, null);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok || !data || data.ok === false) {
    const message = (data && data.error) || errorForStatus(response.status);
    throw new RequestError(message, response.status, data);
  }
  return data;
}

// POST a FormData with XMLHttpRequest so upload progress can be shown.
function uploadForm(url, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch (err) {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && data && data.ok !== false) {
        resolve(data);
      } else {
        const message = (data && data.error) || errorForStatus(xhr.status);
        reject(new RequestError(message, xhr.status, data));
      }
    });
    xhr.addEventListener('error', () => reject(new RequestError(NETWORK_ERROR, 0, null)));
    xhr.send(formData);
  });
}

// Show a dismissible Bootstrap alert; server text always goes in as textContent.
function showAlert(text, category = 'danger', container = null) {
  const target = container || document.getElementById('alerts');
  const alert = document.createElement('div');
  alert.className = `alert alert-${category} alert-dismissible fade show`;
  alert.setAttribute('role', 'alert');
  const message = document.createElement('span');
  message.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'btn-close';
  close.setAttribute('aria-label', 'Close');
  close.addEventListener('click', () => alert.remove());
  alert.append(message, close);
  target.append(alert);
  alert.scrollIntoView({ block: 'nearest' });
  return alert;
}

function clearAlerts(container = null) {
  const target = container || document.getElementById('alerts');
  target.replaceChildren();
}

function captionStats(text) {
  return {
    chars: [...text].length,
    hashtags: (text.match(HASHTAG_RE) || []).length,
    mentions: (text.match(MENTION_RE) || []).length,
  };
}

function captionProblems(stats) {
  const names = { chars: 'characters', hashtags: 'hashtags', mentions: '@mentions' };
  return Object.keys(CAPTION_LIMITS)
    .filter((key) => stats[key] > CAPTION_LIMITS[key])
    .map((key) => `The caption has ${stats[key]} ${names[key]}; Instagram allows ${CAPTION_LIMITS[key]}.`);
}

// Replace the caption's help text with live counters that turn red when over.
function setupCaptionCounter(textarea) {
  const field = textarea.parentElement;
  const help = field.querySelector('[data-caption-help]');
  const live = field.querySelector('[data-caption-live]');
  const counters = {};
  const names = { chars: 'characters', hashtags: 'hashtags', mentions: '@mentions' };
  help.replaceChildren();
  Object.keys(CAPTION_LIMITS).forEach((key, i) => {
    const counter = document.createElement('span');
    counter.className = 'caption-count';
    help.append(counter);
    if (i < 2) help.append(' · ');
    counters[key] = counter;
  });
  let lastProblems = '';
  function update() {
    const stats = captionStats(textarea.value);
    Object.entries(counters).forEach(([key, counter]) => {
      const over = stats[key] > CAPTION_LIMITS[key];
      counter.textContent = `${stats[key].toLocaleString('en')} / ${CAPTION_LIMITS[key].toLocaleString('en')} ${names[key]}`;
      counter.classList.toggle('text-danger', over);
      counter.classList.toggle('fw-semibold', over);
    });
    const problems = captionProblems(stats).join(' ');
    textarea.setCustomValidity(problems);
    textarea.classList.toggle('is-invalid', Boolean(problems));
    if (problems !== lastProblems) live.textContent = problems;
    lastProblems = problems;
  }
  textarea.addEventListener('input', update);
  update();
}

// "2026-12-01T09:30" for an instant, as a clock in the zone ``tz`` shows it.
function localInputValue(date, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz, hourCycle: 'h23',
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(date);
  const get = (type) => parts.find((part) => part.type === type).value;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}

// Best-effort min/max on the datetime-local input; the server has the last word.
function setupDateLimits(input) {
  const tz = input.dataset.timezone;
  const days = Number(input.dataset.maxDays) || 50;
  try {
    const now = Date.now();
    input.min = localInputValue(new Date(now + 60 * 1000), tz);
    input.max = localInputValue(new Date(now + days * 24 * 3600 * 1000), tz);
  } catch (err) {
    // Unknown zone in this browser: leave it to the server.
  }
}

// Update a status badge rendered by the status_badge macro from a status payload.
function renderStatusBadge(badge, data) {
  const waiting = data.status === 'scheduled' && data.waiting;
  const reason = data.status === 'failed' ? data.error : data.waiting;
  Object.keys(STATUS_LABELS).forEach((status) => badge.classList.remove(`status-${status}`));
  badge.classList.add(`status-${data.status}`);
  badge.querySelector('[data-status-text]').textContent = waiting ? 'Waiting' : STATUS_LABELS[data.status] || data.status;
  badge.querySelector('[data-status-reason]').textContent = reason ? `: ${reason}` : '';
  if (reason) badge.title = reason;
  else badge.removeAttribute('title');
}

function setFormBusy(form, busy) {
  form.querySelectorAll('button, input, textarea, select').forEach((el) => {
    if (busy) {
      el.dataset.wasDisabled = el.disabled ? '1' : '';
      el.disabled = true;
    } else if (!el.dataset.wasDisabled) {
      el.disabled = false;
    }
  });
}

// Forms with data-confirm ask first; runs before any page handler (capture phase).
document.addEventListener('submit', (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
