// Bulk upload page: drop or pick many photos; each is sent on its own (a few
// at a time, never all at once), with its own progress bar, and becomes a
// draft cut to the chosen shape on the server. A refused file says which and
// why, and the rest go on; a busy server is waited out. "Add all to queue"
// then gives every new draft the next free posting slot, with Undo. The
// limits (how many files, how big, how many at once) come from the page.

import { clearAlerts, showAlert } from '../lib/alerts.js';
import { fetchJson, uploadForm } from '../lib/http.js';
import { showToast } from '../lib/toast.js';

const RETRIES = 6;
const RETRY_MS = 2000;

const root = document.querySelector('[data-bulk]');

function sizeLabel(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

const wait = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

function setupBulk(page) {
  const limits = JSON.parse(page.dataset.limits);
  const form = page.querySelector('[data-bulk-form]');
  const input = form.querySelector('input[type="file"]');
  const drop = page.querySelector('[data-bulk-drop]');
  const results = page.querySelector('[data-bulk-results]');
  const list = page.querySelector('[data-bulk-list]');
  const summary = page.querySelector('[data-bulk-summary]');
  const queueButton = page.querySelector('[data-bulk-queue]');
  const alerts = page.querySelector('[data-bulk-alerts]');
  const template = page.querySelector('[data-bulk-row]');
  const jobs = []; // { file, ratio, row, state: waiting|sending|done|failed|queued, id }
  let active = 0;

  function render() {
    const count = (state) => jobs.filter((job) => job.state === state).length;
    const done = count('done');
    const failed = count('failed');
    const left = count('waiting') + count('sending');
    const parts = [`${done + count('queued')} of ${jobs.length} uploaded`];
    if (failed) parts.push(`${failed} could not be`);
    if (left) parts.push(`${left} to go`);
    summary.textContent = `${parts.join(' · ')}.`;
    queueButton.disabled = done === 0 || left > 0;
  }

  function setRow(job, { state, text, percent }) {
    if (state) {
      job.state = state;
      job.row.classList.toggle('is-done', state === 'done' || state === 'queued');
      job.row.classList.toggle('is-failed', state === 'failed');
    }
    if (text !== undefined) job.row.querySelector('.bulk-state').textContent = text;
    if (percent !== undefined) {
      const bar = job.row.querySelector('.progress');
      bar.setAttribute('aria-valuenow', String(percent));
      bar.querySelector('.progress-bar').style.width = `${percent}%`;
    }
  }

  function addRow(file) {
    const row = template.content.firstElementChild.cloneNode(true);
    row.querySelector('.bulk-name').textContent = `${file.name} (${sizeLabel(file.size)})`;
    row.querySelector('.progress').setAttribute('aria-label', `Upload of ${file.name}`);
    list.append(row);
    return row;
  }

  async function send(job) {
    const data = new FormData();
    data.append('ratio', job.ratio);
    data.append('photo', job.file, job.file.name);
    for (let attempt = 1; ; attempt += 1) {
      setRow(job, { state: 'sending', text: 'Uploading…', percent: 0 });
      try {
        const result = await uploadForm(form.action, data, (fraction) =>
          setRow(job, { percent: Math.round(fraction * 95) }),
        );
        job.id = result.id;
        const img = document.createElement('img');
        img.src = result.thumb;
        img.alt = '';
        job.row.querySelector('.bulk-thumb').append(img);
        setRow(job, { state: 'done', text: 'Draft saved', percent: 100 });
        return;
      } catch (err) {
        // Busy (503), too many at once (429) or offline for a moment: wait, retry.
        const transient = [0, 429, 503].includes(err.status);
        if (!transient || attempt >= RETRIES) {
          setRow(job, { state: 'failed', text: `Not uploaded: ${err.message}`, percent: 0 });
          return;
        }
        setRow(job, { text: 'Ospost is busy; trying again…' });
        await wait(RETRY_MS * attempt);
      }
    }
  }

  function pump() {
    while (active < limits.parallel) {
      const job = jobs.find((j) => j.state === 'waiting');
      if (!job) break;
      active += 1;
      job.state = 'sending';
      send(job).finally(() => {
        active -= 1;
        render();
        pump();
      });
    }
    render();
  }

  function addFiles(files) {
    if (!files.length) return;
    const ratio = form.elements.ratio.value;
    results.hidden = false;
    clearAlerts(alerts);
    let room = limits.max_files - jobs.filter((j) => j.state !== 'failed').length;
    for (const file of files) {
      const job = { file, ratio, row: addRow(file), state: 'waiting', id: null };
      jobs.push(job);
      if (room <= 0) {
        setRow(job, {
          state: 'failed',
          text: `Not uploaded: at most ${limits.max_files} photos at once.`,
        });
      } else if (file.size > limits.max_bytes) {
        setRow(job, {
          state: 'failed',
          text: `Not uploaded: ${sizeLabel(file.size)} is over the ${limits.max_size} limit.`,
        });
      } else {
        room -= 1;
        setRow(job, { text: 'Waiting…' });
      }
    }
    pump();
  }

  async function queueAll() {
    const ids = jobs.filter((j) => j.state === 'done').map((j) => j.id);
    queueButton.disabled = true;
    clearAlerts(alerts);
    try {
      const result = await fetchJson(page.dataset.queueUrl, { method: 'POST', json: { ids } });
      const moved = new Set(result.moves.map((m) => m.id));
      jobs.forEach((job) => {
        const move = result.moves.find((m) => m.id === job.id);
        if (move) setRow(job, { state: 'queued', text: `Scheduled for ${move.after_label}` });
      });
      render();
      queueButton.disabled = !jobs.some((j) => j.state === 'done' && !moved.has(j.id));
      const toast = showToast({
        title: result.message,
        category: result.left ? 'info' : 'success',
        actions: result.undo ? [{ label: 'Undo', onClick: () => undo(result, toast) }] : [],
      });
    } catch (err) {
      queueButton.disabled = false;
      showAlert(err.message, 'danger', alerts);
    }
  }

  async function undo(result, toast) {
    try {
      const undone = await fetchJson(page.dataset.undoUrl, {
        method: 'POST',
        json: { undo: result.undo },
      });
      jobs.forEach((job) => {
        if (job.state === 'queued') setRow(job, { state: 'done', text: 'Draft saved' });
      });
      render();
      toast.update({ title: `${undone.message} They are drafts again.` });
    } catch (err) {
      toast.update({ title: err.message, category: 'danger' });
    }
  }

  input.addEventListener('change', () => {
    addFiles([...input.files]);
    input.value = '';
  });
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('is-over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('is-over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('is-over');
    addFiles([...event.dataTransfer.files]);
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  queueButton.addEventListener('click', queueAll);
}

if (root) setupBulk(root);
