// Edit post page: save changes (optionally a new cropped image), post now or
// retry with live progress, reschedule, and remove (after asking: data-confirm).

import { showAlert } from '../lib/alerts.js';
import { confirmBeforeSubmit, setFormBusy } from '../lib/forms.js';
import { fetchJson } from '../lib/http.js';
import { setupPostForm } from '../lib/postForm.js';
import { renderPublishSteps } from '../lib/publishSteps.js';
import { renderStatusBadge } from '../lib/statusBadge.js';

const POLL_MS = 2000;
const POLL_LIMIT = 300; // give up refreshing after ten minutes

function setupEditPage(page) {
  const form = page.querySelector('[data-post-form]');
  if (form) {
    const current = form.querySelector('[data-current-image]');
    setupPostForm(form, {
      onImageChange: (hasFile) => {
        current.hidden = hasFile;
      },
    });
  }
  page.querySelectorAll('[data-publish-form]').forEach((publishForm) => {
    publishForm.addEventListener('submit', (event) => {
      event.preventDefault();
      publishNow(page, publishForm);
    });
  });
  page.querySelectorAll('[data-remove-form]').forEach((removeForm) => {
    removeForm.addEventListener('submit', (event) => {
      event.preventDefault();
      removePost(removeForm);
    });
  });
  const reschedule = page.querySelector('[data-reschedule]');
  if (reschedule) reschedule.addEventListener('click', focusDate);
  if (page.hasAttribute('data-poll-on-load')) pollStatus(page);
}

function focusDate() {
  const input = document.getElementById('date');
  input.scrollIntoView({ block: 'center' });
  input.focus();
}

async function removePost(form) {
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const data = await fetchJson(form.action, { method: 'POST', body: new FormData(form) });
    window.location.assign(data.redirect);
  } catch (err) {
    button.disabled = false;
    showAlert(err.message);
  }
}

// While publishing, nothing on the page may change the post.
function lockPage(page, locked) {
  page.querySelectorAll('form').forEach((form) => setFormBusy(form, locked));
  const reschedule = page.querySelector('[data-reschedule]');
  if (reschedule) reschedule.disabled = locked;
}

async function publishNow(page, form) {
  lockPage(page, true);
  try {
    const data = await fetchJson(form.action, { method: 'POST', body: new FormData(form) });
    // Queued to go out now: show it as publishing until the first poll says more.
    showProgress(
      page,
      data.status === 'scheduled' && !data.waiting ? { ...data, status: 'publishing' } : data,
    );
    pollStatus(page);
  } catch (err) {
    lockPage(page, false);
    showAlert(err.message);
  }
}

function pollStatus(page) {
  let polls = 0;
  const timer = window.setInterval(async () => {
    polls += 1;
    try {
      const data = await fetchJson(page.dataset.statusUrl);
      showProgress(page, data);
      if (data.status === 'published' || data.status === 'failed' || polls >= POLL_LIMIT) {
        window.clearInterval(timer);
      }
      // Show the post as it now is: live (read-only, with its Instagram link),
      // or failed with Retry and Reschedule, plus the reconnect banner when
      // Instagram disconnected the account.
      if (data.status === 'published' || data.status === 'failed') window.location.reload();
    } catch (err) {
      if (err.status === 401 || err.status === 404) {
        window.clearInterval(timer);
        showAlert(err.message);
      }
    }
  }, POLL_MS);
}

function showProgress(page, data) {
  const box = page.querySelector('[data-publish-progress]');
  const text = box.querySelector('[data-progress-text]');
  const link = box.querySelector('[data-progress-link]');
  const spinner = box.querySelector('[data-progress-spinner]');
  const failure = page.querySelector('[data-failure]');
  const done = data.status === 'published' || data.status === 'failed';
  if (failure) failure.hidden = true;
  box.hidden = false;
  box.classList.toggle('alert-info', !done);
  box.classList.toggle('alert-success', data.status === 'published');
  box.classList.toggle('alert-danger', data.status === 'failed');
  spinner.hidden = done;
  if (data.status === 'published') {
    text.textContent = `Published on ${data.published_at}.`;
    page.querySelector('[data-status-when]').textContent = `Published on ${data.published_at}`;
  } else if (data.status === 'failed') {
    text.textContent = `Publishing failed: ${data.error || 'Instagram did not say why.'}`;
  } else {
    text.textContent = data.waiting
      ? `Publishing… ${data.waiting}`
      : 'Publishing… this can take a minute.';
  }
  const permalink = /^https?:\/\//.test(data.permalink || '') ? data.permalink : '';
  link.hidden = !(data.status === 'published' && permalink);
  if (permalink) link.href = permalink;
  const badge = page.querySelector('.post-status [data-status-badge]');
  if (badge) renderStatusBadge(badge, data);
  if (data.status === 'failed') lockPage(page, false);
  renderPublishSteps(page, data.steps);
}

confirmBeforeSubmit();
const editPage = document.querySelector('.edit-page');
if (editPage) setupEditPage(editPage);
