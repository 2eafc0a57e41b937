// Calendar page: drag a post to another day (or hour, in the week view), or
// select it and move it with the arrow keys or the panel's buttons; queue
// actions (add to queue, one slot later, shuffle). Every change shows an Undo
// toast. Limits and URLs come from the page's data- attributes; the server
// has the last word on every time.

import { showAlert } from '../lib/alerts.js';
import { fetchJson } from '../lib/http.js';
import { prepareUndoToasts, showUndoToast } from '../lib/undoToast.js';

const ID = '2147483647';
const DAY_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;
const KEY_MOVES = {
  ArrowLeft: { days: -1 },
  ArrowRight: { days: 1 },
  ArrowUp: { hours: -1 },
  ArrowDown: { hours: 1 },
};

const root = document.querySelector('[data-calendar]');
const panel = root && root.querySelector('[data-panel]');
let selectedId = null;
let dragging = null;
let busy = false;

// -- wall-clock times ("2026-12-01T09:30" on the account's clock) -------------------

// Arithmetic on the clock's face, done in UTC so the browser's own zone and its
// DST changes never enter; the server turns the result into an instant.
function shiftLocal(local, { days = 0, hours = 0 }) {
  const [date, time] = local.split('T');
  const [y, m, d] = date.split('-').map(Number);
  const [h, min] = time.split(':').map(Number);
  const moved = new Date(Date.UTC(y, m - 1, d, h, min) + days * DAY_MS + hours * HOUR_MS);
  const pad = (n) => String(n).padStart(2, '0');
  return (
    `${moved.getUTCFullYear()}-${pad(moved.getUTCMonth() + 1)}-${pad(moved.getUTCDate())}` +
    `T${pad(moved.getUTCHours())}:${pad(moved.getUTCMinutes())}`
  );
}

// Why a time cannot take a post, or '' when it can (same-format strings sort).
function refusal(local) {
  if (local < root.dataset.min) return 'Pick a time in the future.';
  if (local > root.dataset.max) {
    return `Posts can be scheduled at most ${root.dataset.maxDays} days ahead (or until your Instagram login expires).`;
  }
  return '';
}

// -- talking to the server --------------------------------------------------------

const urlFor = (name, id) => root.dataset[name].replace(ID, String(id));

// POST a change; a clash warning asks the person and, if they agree, sends it
// again with confirm. Resolves to the server's answer, or null if they declined.
async function send(url, body = {}) {
  try {
    return await fetchJson(url, { method: 'POST', json: body });
  } catch (err) {
    if (!err.data || !err.data.confirm) throw err;
    if (!window.confirm(err.data.warning)) return null;
    return fetchJson(url, { method: 'POST', json: { ...body, confirm: true } });
  }
}

// Load the page again and swap in its calendar, keeping focus (and the
// selection, when the panel was open for that post).
async function refresh(focusId) {
  const keepPanel = !panel.hidden && selectedId === focusId;
  const response = await fetch(window.location.href, {
    headers: { Accept: 'text/html' },
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error('The calendar could not be reloaded. Reload the page.');
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
  const fresh = doc.querySelector('[data-calendar]');
  // Not the calendar: the session ended and the login page came back.
  if (!fresh) throw new Error('Your session ended. Reload the page and log in again.');
  const body = root.querySelector('[data-calendar-body]');
  body.replaceWith(fresh.querySelector('[data-calendar-body]'));
  root.dataset.min = fresh.dataset.min;
  root.dataset.max = fresh.dataset.max;
  const post = visiblePost(focusId);
  if (post && keepPanel) select(post);
  else if (!panel.hidden) closePanel();
  if (post) post.focus();
}

async function change(url, body, focusId) {
  if (busy) return;
  busy = true;
  const area = root.querySelector('[data-calendar-body]');
  area.classList.add('is-busy');
  try {
    const result = await send(url, body);
    if (!result) return;
    await refresh(focusId);
    if (result.undo) {
      showUndoToast(result.message, async () => {
        const undone = await fetchJson(root.dataset.undoUrl, {
          method: 'POST',
          json: { undo: result.undo },
        });
        await refresh(focusId);
        return undone.message;
      });
    } else {
      showAlert(result.message, 'info');
    }
  } catch (err) {
    showAlert(err.message);
  } finally {
    busy = false;
    const current = root.querySelector('[data-calendar-body]');
    if (current) current.classList.remove('is-busy');
  }
}

function moveTo(post, local) {
  if (local === post.dataset.local) return;
  const why = refusal(local);
  if (why) {
    showAlert(why, 'warning');
    return;
  }
  change(urlFor('moveUrl', post.dataset.id), { local }, post.dataset.id);
}

// -- selecting a post and its panel -------------------------------------------------

// The grid and the agenda both list each post; only one of them is shown.
function visiblePost(id) {
  if (id === null) return null;
  return [...root.querySelectorAll(`[data-post][data-id="${id}"]`)].find(
    (el) => el.offsetParent !== null,
  );
}

function select(post) {
  root.querySelectorAll('[data-post].is-selected').forEach((el) => {
    el.classList.remove('is-selected');
    el.setAttribute('aria-pressed', 'false');
  });
  post.classList.add('is-selected');
  post.setAttribute('aria-pressed', 'true');
  selectedId = post.dataset.id;
  const can = post.dataset.can.split(' ');
  panel.querySelector('[data-panel-title]').textContent = post.dataset.label;
  panel.querySelectorAll('[data-needs]').forEach((el) => {
    el.hidden = !el.dataset.needs.split(' ').every((need) => can.includes(need));
  });
  panel.querySelector('[data-panel-open]').href = urlFor('editUrl', selectedId);
  panel.hidden = false;
}

function closePanel() {
  const post = visiblePost(selectedId);
  panel.hidden = true;
  if (post) {
    post.classList.remove('is-selected');
    post.setAttribute('aria-pressed', 'false');
    post.focus();
  }
  selectedId = null;
}

function onPanelClick(event) {
  const button = event.target.closest('button');
  if (!button) return;
  if (button.hasAttribute('data-panel-close')) {
    closePanel();
    return;
  }
  const post = visiblePost(selectedId);
  if (!post) return;
  const { act, step } = button.dataset;
  const n = Number(step);
  if (act === 'day') moveTo(post, shiftLocal(post.dataset.local, { days: n }));
  if (act === 'hour') moveTo(post, shiftLocal(post.dataset.local, { hours: n }));
  if (act === 'queue') change(urlFor('queueUrl', selectedId), {}, selectedId);
  if (act === 'shift') change(urlFor('shiftUrl', selectedId), {}, selectedId);
}

function onKeyDown(event) {
  if (event.key === 'Escape' && !panel.hidden) {
    closePanel();
    return;
  }
  const post = event.target.closest('[data-post]');
  const step = KEY_MOVES[event.key];
  if (!post || !step || event.altKey || event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  if (!post.hasAttribute('data-movable')) {
    showAlert('Only scheduled, failed or draft posts can be moved.', 'warning');
    return;
  }
  if (!post.dataset.local) {
    showAlert('Give this draft a time first: drag it onto a day, or Add to queue.', 'warning');
    return;
  }
  select(post);
  moveTo(post, shiftLocal(post.dataset.local, step));
}

// -- drag and drop ---------------------------------------------------------------------

// Where a drop on `cell` puts the dragged post: the cell's day (and hour, in the
// week view) at the post's own minutes. A draft without a time takes the day's
// first posting slot, or noon.
function dropTime(cell) {
  const slots = JSON.parse(root.dataset.firstSlots || '{}');
  const weekday = (new Date(`${cell.dataset.day}T00:00Z`).getUTCDay() + 6) % 7; // 0 is Monday
  const time = dragging.local ? dragging.local.split('T')[1] : slots[weekday] || '12:00';
  if (cell.dataset.hour === undefined) return `${cell.dataset.day}T${time}`;
  const hour = String(cell.dataset.hour).padStart(2, '0');
  const minutes = dragging.local ? time.split(':')[1] : '00';
  return `${cell.dataset.day}T${hour}:${minutes}`;
}

function setupDrag() {
  root.addEventListener('dragstart', (event) => {
    const post = event.target.closest('[data-post][data-movable]');
    if (!post) return;
    dragging = { id: post.dataset.id, local: post.dataset.local, el: post };
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', post.dataset.id);
    post.classList.add('is-dragging');
  });
  root.addEventListener('dragend', () => {
    if (dragging) dragging.el.classList.remove('is-dragging');
    root.querySelectorAll('.is-drop-target').forEach((el) => el.classList.remove('is-drop-target'));
    dragging = null;
  });
  root.addEventListener('dragover', (event) => {
    const cell = event.target.closest('td[data-day]');
    if (!dragging || !cell || refusal(dropTime(cell))) return;
    event.preventDefault(); // this cell takes the drop
    event.dataTransfer.dropEffect = 'move';
    cell.classList.add('is-drop-target');
  });
  root.addEventListener('dragleave', (event) => {
    const cell = event.target.closest('td[data-day]');
    if (cell && !cell.contains(event.relatedTarget)) cell.classList.remove('is-drop-target');
  });
  root.addEventListener('drop', (event) => {
    const cell = event.target.closest('td[data-day]');
    if (!dragging || !cell) return;
    event.preventDefault();
    cell.classList.remove('is-drop-target');
    moveTo(dragging.el, dropTime(cell));
  });
}

if (root && panel) {
  prepareUndoToasts();
  root.addEventListener('click', (event) => {
    const post = event.target.closest('[data-post]');
    if (post) select(post);
  });
  root.addEventListener('keydown', onKeyDown);
  panel.addEventListener('click', onPanelClick);
  root.querySelector('[data-shuffle]').addEventListener('click', () => {
    change(root.dataset.shuffleUrl, {}, selectedId);
  });
  setupDrag();
}
