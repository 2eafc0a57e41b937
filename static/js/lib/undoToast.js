// An Undo toast: says what just changed and offers to take it back. Pages that
// move posts share it (the calendar now; the home grid can reuse it). One toast
// at a time: a new change replaces the last one's toast. Styles: css/calendar.css.

const DEFAULT_MS = 10000;
let current = null;

// Make the (empty) live region now: screen readers announce changes to a live
// region that already exists more reliably than a region inserted with its text.
export function prepareUndoToasts() {
  region();
}

function region() {
  let host = document.querySelector('[data-undo-toasts]');
  if (!host) {
    host = document.createElement('div');
    host.className = 'undo-toast-region';
    host.dataset.undoToasts = '';
    // A polite live region: the message is read out without moving focus.
    host.setAttribute('role', 'status');
    document.body.append(host);
  }
  return host;
}

function isEditing(target) {
  return (
    target instanceof HTMLElement && target.closest('input, textarea, select, [contenteditable]')
  );
}

// Show `message` with an Undo button. `onUndo()` returns a promise of the text
// to show once undone; if it rejects, its message is shown and Undo stays.
// Ctrl+Z (Cmd+Z) presses Undo too while the toast is up. The toast stays while
// the pointer or focus is on it, else leaves after `timeout` ms.
export function showUndoToast(message, onUndo, { timeout = DEFAULT_MS } = {}) {
  if (current) current.dismiss();
  const host = region();
  const toast = document.createElement('div');
  toast.className = 'undo-toast';
  const text = document.createElement('span');
  text.className = 'undo-toast-text';
  text.textContent = message;
  const undo = document.createElement('button');
  undo.type = 'button';
  undo.className = 'btn btn-light btn-sm';
  undo.textContent = 'Undo';
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'btn btn-outline-light btn-sm';
  close.setAttribute('aria-label', 'Dismiss');
  close.textContent = '×';
  toast.append(text, undo, close);
  host.replaceChildren(toast);

  let timer = 0;
  const start = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(dismiss, timeout);
  };
  const stop = () => window.clearTimeout(timer);

  async function runUndo() {
    if (undo.disabled || !undo.isConnected) return;
    undo.disabled = true;
    stop();
    try {
      const done = await onUndo();
      text.textContent = done || 'Undone.';
      undo.remove();
    } catch (err) {
      text.textContent = err.message;
      undo.disabled = false;
    }
    start();
  }

  function onKey(event) {
    const key = event.key.toLowerCase();
    if (key === 'z' && (event.ctrlKey || event.metaKey) && !isEditing(event.target)) {
      event.preventDefault();
      runUndo();
    }
  }

  function dismiss() {
    stop();
    document.removeEventListener('keydown', onKey);
    toast.remove();
    if (current && current.toast === toast) current = null;
  }

  undo.addEventListener('click', runUndo);
  close.addEventListener('click', dismiss);
  toast.addEventListener('mouseenter', stop);
  toast.addEventListener('mouseleave', start);
  toast.addEventListener('focusin', stop);
  toast.addEventListener('focusout', (event) => {
    if (!toast.contains(event.relatedTarget)) start();
  });
  document.addEventListener('keydown', onKey);
  start();
  current = { toast, dismiss };
  return current;
}
