// Home grid: the profile preview. Photos first, details on hover, focus, a tap
// or the remembered Details switch. Reordering is safe: a drag starts only
// from a tile's handle (at once with a mouse, after a press and hold with a
// finger, so swiping the grid always scrolls), Earlier/Later do the same from
// the keyboard, and every move ends with a toast listing what moved from which
// time to which, with Undo. The grid is brought up to date in place, never by
// reloading the page. Tiles of posts being published follow their progress.

// SortableJS's ES module build with the same plugins as its Sortable.min.js.
import Sortable from '/vendor/sortable.complete.esm.js';

import { setupDraftShelf } from '../lib/draftShelf.js';
import { fetchJson } from '../lib/http.js';
import { renderStatusBadge } from '../lib/statusBadge.js';
import { showToast } from '../lib/toast.js';

const MOVABLE = '.tile-movable';
const POLL_MS = 2000;
const DETAILS_COOKIE = 'ospost_grid_details';
const DETAILS_MAX_AGE = 365 * 24 * 3600;
// How long a finger rests on a handle before the post lifts, and how far it
// may wander meanwhile (further is a swipe, which scrolls).
const LONG_PRESS_MS = 350;
const LONG_PRESS_SLOP_PX = 8;
// Beyond this many moved posts the toast says "and N more".
const TOAST_ITEMS = 6;

const area = document.getElementById('grid-area');
let sortable = null;
let timers = [];
let busy = false;
// The last move's undo, while its toast is up: () => Promise.
let pendingUndo = null;

// -- bringing the grid up to date -------------------------------------------

function grid() {
  return area.querySelector('.grid');
}

function setupGrid() {
  const el = grid();
  if (!el) return;
  if (el.querySelectorAll(MOVABLE).length > 1) sortable = setupDrag(el);
  el.querySelectorAll('[data-status-url]').forEach((tile) => timers.push(pollTile(tile)));
}

function teardownGrid() {
  if (sortable) sortable.destroy();
  sortable = null;
  timers.forEach((timer) => window.clearInterval(timer));
  timers = [];
}

// Fetch the page again and put its tiles in place of these (focus and scroll
// stay where they were, which a reload would lose).
async function refreshGrid() {
  const response = await fetch(window.location.pathname, {
    headers: { Accept: 'text/html' },
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const page = new DOMParser().parseFromString(await response.text(), 'text/html');
  const fresh = page.getElementById('grid-area');
  if (!fresh) throw new Error('no grid in the page');
  teardownGrid();
  area.replaceChildren(...fresh.childNodes);
  setupGrid();
}

// -- what moved, and undoing it -----------------------------------------------

function itemsOf(moved) {
  const items = moved.slice(0, TOAST_ITEMS).map((m) => ({
    image: m.thumbnail,
    label: m.label,
    detail: `${m.before_label} → ${m.after_label}`,
  }));
  if (moved.length > TOAST_ITEMS) {
    items.push({ label: `and ${moved.length - TOAST_ITEMS} more` });
  }
  return items;
}

// The toast after a move: which posts moved from which time to which, and Undo.
function announceMove(moved) {
  pendingUndo = null;
  if (!moved.length) {
    showToast({ title: 'Nothing moved: the post is already at the end.' });
    return;
  }
  const title = moved.length === 1 ? 'Moved 1 post.' : `Moved ${moved.length} posts.`;
  const undo = () => undoMove(moved);
  pendingUndo = undo;
  showToast({
    title,
    text: 'They kept the same set of times and took them in the new order:',
    items: itemsOf(moved),
    actions: [{ label: 'Undo', onClick: undo, shortcut: 'Control+Z' }],
  });
}

async function undoMove(moved) {
  if (busy) return;
  pendingUndo = null;
  busy = true;
  const toast = showToast({ title: 'Undoing…', busy: true });
  const posts = moved.map((m) => ({
    id: m.id,
    scheduled_at: m.before,
    updated_at: m.updated_at,
  }));
  try {
    const data = await fetchJson(grid().dataset.restoreUrl, { method: 'POST', json: { posts } });
    await refreshGrid();
    toast.update({
      title: 'Undone: the posts are back at their earlier times.',
      category: 'success',
      items: itemsOf(data.moved),
    });
  } catch (err) {
    toast.update({ title: err.message, category: 'danger' });
    await refreshGrid().catch(() => {});
  } finally {
    busy = false;
  }
}

// Ctrl+Z (or Cmd+Z) undoes the last move while its toast is up, except in a
// text field, where it undoes typing.
document.addEventListener('keydown', (event) => {
  if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== 'z' || event.shiftKey) {
    return;
  }
  if (!pendingUndo || !document.getElementById('toasts').childElementCount) return;
  if (event.target.closest && event.target.closest('input, textarea, select')) return;
  event.preventDefault();
  pendingUndo();
});

// -- Earlier / Later buttons -------------------------------------------------

function setupMoveButtons() {
  // Every tile's Earlier/Later button submits the page's one #move-form.
  const form = document.getElementById('move-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    const button = event.submitter;
    if (!button || !area.contains(button)) return;
    event.preventDefault();
    if (busy) return;
    busy = true;
    const { value: direction } = button;
    const tileId = button.closest('.tile').id;
    const body = new FormData(form);
    body.set('direction', direction);
    button.disabled = true;
    try {
      const data = await fetchJson(button.formAction, { method: 'POST', body });
      await refreshGrid();
      announceMove(data.moved);
      focusMoved(tileId, direction);
    } catch (err) {
      button.disabled = false;
      showToast({ title: err.message, category: 'danger' });
    } finally {
      busy = false;
    }
  });
}

// After a move, keyboard focus goes back to the same button of the same post
// (or the other one once the post is at the end and cannot go further).
function focusMoved(tileId, direction) {
  const tile = document.getElementById(tileId);
  if (!tile) return;
  const target = [`.move-${direction}`, '.move-btn:not([disabled])', '.tile-link']
    .map((selector) => tile.querySelector(selector))
    .find((el) => el && !el.disabled);
  if (target) {
    target.focus({ preventScroll: true });
    tile.scrollIntoView({ block: 'nearest' });
  }
}

// -- dragging by the handle ----------------------------------------------------

function setupDrag(el) {
  let before = [];
  return new Sortable(el, {
    draggable: MOVABLE,
    handle: '.tile-handle',
    // A finger must rest on the handle first; a mouse drags at once.
    delay: LONG_PRESS_MS,
    delayOnTouchOnly: true,
    touchStartThreshold: LONG_PRESS_SLOP_PX,
    forceFallback: true,
    fallbackTolerance: 4,
    animation: 150,
    ghostClass: 'tile-ghost',
    chosenClass: 'tile-chosen',
    fallbackClass: 'tile-dragging',
    // Scheduled posts only trade places with scheduled posts.
    onMove: (event) => event.related.matches(MOVABLE),
    onChoose: (event) => {
      before = [...el.children];
      // A short buzz says the post is lifted (phones that can).
      if (event.originalEvent && event.originalEvent.pointerType === 'touch' && navigator.vibrate) {
        navigator.vibrate(15);
      }
    },
    onEnd: (event) => {
      if (event.oldIndex !== event.newIndex) saveOrder(el, before);
    },
  });
}

async function saveOrder(el, before) {
  const order = [...el.querySelectorAll(`:scope > ${MOVABLE}`)]
    .filter((tile) => !tile.classList.contains('tile-dragging'))
    .map((tile) => Number(tile.dataset.id));
  busy = true;
  el.classList.add('is-saving');
  if (sortable) sortable.option('disabled', true);
  try {
    const data = await fetchJson(el.dataset.reorderUrl, { method: 'POST', json: { order } });
    await refreshGrid();
    announceMove(data.moved);
  } catch (err) {
    // Put the tiles back as they were, then show the server's truth.
    el.append(...before);
    el.classList.remove('is-saving');
    if (sortable) sortable.option('disabled', false);
    showToast({ title: err.message, category: 'danger' });
    await refreshGrid().catch(() => {});
  } finally {
    busy = false;
  }
}

// -- details: hover, focus, a tap, or the switch --------------------------------

function setupDetails() {
  const toggle = document.querySelector('[data-details-toggle]');
  if (toggle) {
    toggle.addEventListener('click', () => {
      const on = toggle.getAttribute('aria-pressed') !== 'true';
      toggle.setAttribute('aria-pressed', String(on));
      area.classList.toggle('show-details', on);
      // A cookie, not localStorage: the server draws the grid right the first time.
      document.cookie = `${DETAILS_COOKIE}=${on ? '1' : '0'}; path=/; max-age=${DETAILS_MAX_AGE}; SameSite=Lax`;
    });
  }
  // On a touch screen there is no hover: the first tap on a photo shows its
  // details (and handle), the next opens the post.
  let lastPointer = 'mouse';
  area.addEventListener(
    'pointerdown',
    (event) => {
      lastPointer = event.pointerType;
    },
    true,
  );
  area.addEventListener('keydown', () => {
    lastPointer = 'keyboard';
  });
  area.addEventListener('click', (event) => {
    const link = event.target.closest('.tile-link');
    if (!link || lastPointer !== 'touch' || area.classList.contains('show-details')) return;
    const tile = link.closest('.tile');
    if (tile.classList.contains('is-revealed')) return;
    event.preventDefault();
    area.querySelectorAll('.is-revealed').forEach((other) => other.classList.remove('is-revealed'));
    tile.classList.add('is-revealed');
  });
  document.addEventListener('pointerdown', (event) => {
    if (event.target.closest && !event.target.closest('.tile')) {
      area.querySelectorAll('.is-revealed').forEach((tile) => tile.classList.remove('is-revealed'));
    }
  });
}

// -- publishing progress ----------------------------------------------------

function pollTile(tile) {
  const badge = tile.querySelector('[data-status-badge]');
  const timer = window.setInterval(async () => {
    try {
      const data = await fetchJson(tile.dataset.statusUrl);
      renderStatusBadge(badge, data);
      if (data.status !== 'publishing') window.clearInterval(timer);
    } catch (err) {
      if (err.status === 401 || err.status === 404) window.clearInterval(timer);
    }
  }, POLL_MS);
  return timer;
}

if (area) {
  setupDetails();
  setupMoveButtons();
  setupGrid();
  const shelf = document.querySelector('[data-draft-shelf]');
  // A draft scheduled from the shelf joins the grid.
  if (shelf) setupDraftShelf(shelf, { onChange: () => refreshGrid().catch(() => {}) });
}
