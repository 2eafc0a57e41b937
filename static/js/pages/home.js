// Home grid: long-press + drag to swap dates (SortableJS), Earlier/Later buttons
// without a full form post, and live badges for posts being published.

// long-press-event has no ES module build: it is a plain script that, when it
// runs, makes the document fire a `long-press` event (it only uses the window and
// document it is handed, so it runs the same as a module). Imported for that
// side effect; it exports nothing.
import '/vendor/long-press-event.min.js';
// SortableJS's ES module build with the same plugins as its Sortable.min.js.
import Sortable from '/vendor/sortable.complete.esm.js';

import { showAlert } from '../lib/alerts.js';
import { fetchJson } from '../lib/http.js';
import { renderStatusBadge } from '../lib/statusBadge.js';

const LONG_PRESS_SCOPE = '.tile-scheduled';
const FOCUS_KEY = 'ospost.focusAfterMove';
const CHANGED_ERROR = 'Your schedule changed in the meantime. Reload the page.';
const POLL_MS = 2000;

// -- Earlier / Later buttons -------------------------------------------------

function setupMoveButtons(grid) {
  // Every tile's Earlier/Later button submits the page's one #move-form.
  const form = document.getElementById('move-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    const button = event.submitter;
    if (!button || !grid.contains(button)) return;
    event.preventDefault();
    const { value: direction } = button;
    const body = new FormData(form);
    body.set('direction', direction);
    button.disabled = true;
    try {
      await fetchJson(button.formAction, { method: 'POST', body });
      const tile = button.closest('.tile');
      window.sessionStorage.setItem(FOCUS_KEY, JSON.stringify({ id: tile.id, direction }));
      window.location.reload();
    } catch (err) {
      button.disabled = false;
      showAlert(err.message);
    }
  });
}

// After a move the page reloads; put keyboard focus back on the same button.
function restoreFocusAfterMove() {
  const saved = window.sessionStorage.getItem(FOCUS_KEY);
  if (!saved) return;
  window.sessionStorage.removeItem(FOCUS_KEY);
  try {
    const { id, direction } = JSON.parse(saved);
    const tile = document.getElementById(id);
    if (!tile) return;
    const target = [`.move-${direction}`, '.move-btn:not([disabled])', '.tile-link']
      .map((selector) => tile.querySelector(selector))
      .find((el) => el && !el.disabled);
    if (target) {
      target.focus();
      tile.scrollIntoView({ block: 'nearest' });
    }
  } catch {
    // Stale or foreign value: ignore.
  }
}

// -- Long press and drag ----------------------------------------------------

function setupDragReorder(grid) {
  const bar = document.querySelector('[data-reorder-bar]');
  let lastPointer = { id: 1, type: 'mouse' };
  let before = [];
  let reordering = false;

  const sortable = new Sortable(grid, {
    disabled: true,
    draggable: LONG_PRESS_SCOPE,
    filter: '.tile-move',
    preventOnFilter: false,
    forceFallback: true,
    fallbackTolerance: 4,
    animation: 150,
    ghostClass: 'tile-ghost',
    chosenClass: 'tile-chosen',
    fallbackClass: 'tile-dragging',
    // Scheduled posts only trade places with scheduled posts.
    onMove: (event) => event.related.matches(LONG_PRESS_SCOPE),
    onStart: () => {
      before = [...grid.children].filter((el) => !el.classList.contains('tile-dragging'));
      grid.classList.add('is-dragging');
    },
    onEnd: (event) => {
      grid.classList.remove('is-dragging');
      if (event.oldIndex !== event.newIndex) saveOrder();
    },
  });

  function enterReorderMode() {
    if (reordering) return;
    reordering = true;
    sortable.option('disabled', false);
    grid.classList.add('is-reordering');
    bar.hidden = false;
  }

  function leaveReorderMode() {
    reordering = false;
    sortable.option('disabled', true);
    grid.classList.remove('is-reordering');
    bar.hidden = true;
  }

  // Hand the press that is still held down over to Sortable, so the drag
  // continues in the same gesture (otherwise a second press drags).
  function startDrag(target, detail) {
    const init = {
      bubbles: true,
      cancelable: true,
      button: 0,
      buttons: 1,
      clientX: detail.clientX,
      clientY: detail.clientY,
    };
    const down = sortable.options.supportPointer
      ? new PointerEvent('pointerdown', {
          ...init,
          pointerId: lastPointer.id,
          pointerType: lastPointer.type,
          isPrimary: true,
        })
      : new MouseEvent('mousedown', init);
    target.dispatchEvent(down);
  }

  async function saveOrder() {
    const order = [...grid.querySelectorAll(`:scope > ${LONG_PRESS_SCOPE}`)]
      .filter((tile) => !tile.classList.contains('tile-dragging'))
      .map((tile) => Number(tile.dataset.id));
    sortable.option('disabled', true);
    grid.classList.add('is-saving');
    try {
      await fetchJson(grid.dataset.reorderUrl, { method: 'POST', json: { order } });
      window.location.reload();
    } catch (err) {
      grid.append(...before);
      grid.classList.remove('is-saving');
      showAlert(err.status === 409 ? err.message || CHANGED_ERROR : err.message);
      if (reordering) sortable.option('disabled', false);
    }
  }

  document.addEventListener(
    'pointerdown',
    (event) => {
      if (event.isTrusted) lastPointer = { id: event.pointerId, type: event.pointerType };
    },
    true,
  );

  grid.addEventListener('long-press', (event) => {
    const tile = event.target.closest(LONG_PRESS_SCOPE);
    if (!tile || event.target.closest('.tile-move') || grid.classList.contains('is-saving')) return;
    const wasReordering = reordering;
    enterReorderMode();
    if (!wasReordering) startDrag(event.target, event.detail);
  });

  // In reorder mode a tap must not open the post, and a finger must not scroll.
  grid.addEventListener(
    'click',
    (event) => {
      if (reordering && event.target.closest('.tile-link')) event.preventDefault();
    },
    true,
  );
  document.addEventListener(
    'touchmove',
    (event) => {
      if (
        reordering &&
        event.cancelable &&
        event.target.closest &&
        event.target.closest(LONG_PRESS_SCOPE)
      ) {
        event.preventDefault();
      }
    },
    { passive: false },
  );
  grid.addEventListener('contextmenu', (event) => {
    if (reordering) event.preventDefault();
  });

  bar.querySelector('[data-reorder-done]').addEventListener('click', leaveReorderMode);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && reordering) leaveReorderMode();
  });
}

// -- Publishing progress ----------------------------------------------------

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
}

const grid = document.querySelector('.grid');
if (grid) {
  setupMoveButtons(grid);
  if (grid.querySelectorAll(LONG_PRESS_SCOPE).length > 1) setupDragReorder(grid);
  grid.querySelectorAll('[data-status-url]').forEach(pollTile);
  restoreFocusAfterMove();
}
