// Edit post page: save changes (images, text, people, date), post now or
// retry after confirming, reschedule, and remove (after asking: data-confirm).
// Publishing progress shows in a toast fixed at the bottom of the screen, so
// it is in sight wherever the page is scrolled; when the post is live (or
// failed) the page is brought up to date in place, without a reload.

import { confirmBeforeSubmit, setFormBusy } from '../lib/forms.js';
import { fetchJson } from '../lib/http.js';
import { setupPostForm } from '../lib/postForm.js';
import { renderPublishSteps } from '../lib/publishSteps.js';
import { renderStatusBadge } from '../lib/statusBadge.js';
import { showToast } from '../lib/toast.js';
import { watchVideoConversion } from '../lib/videoProgress.js';

const POLL_MS = 2000;
const POLL_LIMIT = 300; // give up refreshing after ten minutes

// The form's unsaved-changes guard, released when the page is brought up to date.
let guard = null;

function setupEditPage(page) {
  const form = page.querySelector('[data-post-form]');
  guard = null;
  if (form) {
    guard = setupPostForm(form);
  }
  page.querySelectorAll('[data-publish-form]').forEach((publishForm) => {
    // Post now publishes the post as last saved: unsaved edits would be lost
    // on Instagram, so they must be saved first (checked before confirming).
    publishForm.querySelector('button').addEventListener('click', (event) => {
      if (guard && guard.isDirty()) {
        event.preventDefault();
        showToast({
          title: 'Save your changes first.',
          text: 'Post now publishes the post as it was last saved.',
          category: 'danger',
        });
      }
    });
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
  if (page.hasAttribute('data-poll-on-load')) {
    const toast = showToast({});
    showProgress(page, toast, { status: 'publishing' });
    pollStatus(page, toast);
  }
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
    if (guard) guard.release(); // removed: its unsaved edits no longer matter
    window.location.assign(data.redirect);
  } catch (err) {
    button.disabled = false;
    showToast({ title: err.message, category: 'danger' });
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
  const toast = showToast({ title: 'Publishing…', busy: true });
  try {
    const data = await fetchJson(form.action, { method: 'POST', body: new FormData(form) });
    // Queued to go out now: show it as publishing until the first poll says more.
    showProgress(
      page,
      toast,
      data.status === 'scheduled' && !data.waiting ? { ...data, status: 'publishing' } : data,
    );
    pollStatus(page, toast);
  } catch (err) {
    lockPage(page, false);
    toast.update({ title: err.message, category: 'danger' });
  }
}

function pollStatus(page, toast) {
  let polls = 0;
  const timer = window.setInterval(async () => {
    polls += 1;
    try {
      const data = await fetchJson(page.dataset.statusUrl);
      const done = data.status === 'published' || data.status === 'failed';
      if (done || polls >= POLL_LIMIT) window.clearInterval(timer);
      if (done) await showOutcome();
      else showProgress(page, toast, data);
      if (done) finish(toast, data);
    } catch (err) {
      if (err.status === 401 || err.status === 404) {
        window.clearInterval(timer);
        toast.update({ title: err.message, category: 'danger' });
      }
    }
  }, POLL_MS);
}

function showProgress(page, toast, data) {
  toast.update({
    title: 'Publishing…',
    text: data.waiting || 'This can take a minute. You can stay on this page or leave it.',
    busy: true,
  });
  const badge = page.querySelector('.post-status [data-status-badge]');
  if (badge) renderStatusBadge(badge, data);
  renderPublishSteps(page, data.steps);
}

function finish(toast, data) {
  const permalink = /^https?:\/\//.test(data.permalink || '') ? data.permalink : '';
  if (data.status === 'published') {
    toast.update({
      title: `Published on Instagram on ${data.published_at}.`,
      category: 'success',
      link: permalink ? { href: permalink, label: 'View on Instagram' } : null,
    });
    const link = toast.element.querySelector('a');
    if (link) link.focus();
  } else {
    toast.update({
      title: 'Publishing failed.',
      text: data.error || 'Instagram did not say why.',
      category: 'danger',
    });
  }
}

// Show the post as it now is (live and read-only with its Instagram link, or
// failed with Retry and Reschedule, plus the reconnect banner when Instagram
// disconnected the account): the page's main part, fetched again and put in
// place, so the reading position and the toast stay.
async function showOutcome() {
  const main = document.getElementById('main');
  try {
    const response = await fetch(window.location.href, {
      headers: { Accept: 'text/html' },
      credentials: 'same-origin',
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
    const freshMain = fresh.getElementById('main');
    const title = fresh.querySelector('title');
    if (!freshMain) return;
    if (guard) guard.release(); // its form is about to go
    main.replaceChildren(...freshMain.childNodes);
    if (title) document.title = title.textContent;
    const page = main.querySelector('.edit-page');
    if (page) setupEditPage(page);
  } catch {
    // Offline for a moment: the toast has the outcome; a reload shows the rest.
  }
}

confirmBeforeSubmit();
const editPage = document.querySelector('.edit-page');
if (editPage) {
  setupEditPage(editPage);
  watchVideoConversion(editPage);
}
