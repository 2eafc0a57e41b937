// The home page's Drafts shelf: Schedule (the next free posting slot) or a
// chosen time, sent with fetch; a clash warning asks before going ahead. The
// toast says when the draft will go out, with Undo. The shelf and the grid
// are brought up to date in place. URLs come from the page.

import { confirmDialog } from './dialog.js';
import { fetchJson } from './http.js';
import { showToast } from './toast.js';

// POST a schedule; on a clash warning ask, then send again with confirm.
async function send(url, body) {
  try {
    return await fetchJson(url, { method: 'POST', json: body });
  } catch (err) {
    if (!err.data || !err.data.confirm) throw err;
    const go = await confirmDialog({ title: err.data.warning, confirmLabel: 'Schedule anyway' });
    if (!go) return null;
    return fetchJson(url, { method: 'POST', json: { ...body, confirm: true } });
  }
}

// Fetch the home page again and swap in its shelf (gone when no draft is
// left, back above the grid after an Undo) and its header's counts.
async function refreshShelf(shelf) {
  const response = await fetch(window.location.pathname, {
    headers: { Accept: 'text/html' },
    credentials: 'same-origin',
  });
  if (!response.ok) return shelf;
  const page = new DOMParser().parseFromString(await response.text(), 'text/html');
  const profile = document.querySelector('.home .profile');
  const freshProfile = page.querySelector('.home .profile');
  if (profile && freshProfile) profile.replaceWith(freshProfile);
  const fresh = page.querySelector('[data-draft-shelf]');
  if (shelf && fresh) shelf.replaceWith(fresh);
  else if (shelf) shelf.remove();
  else if (fresh) {
    const before = document.querySelector('.home .grid-controls, #grid-area');
    before.before(fresh);
  }
  return fresh;
}

// Wire up the shelf; `onChange()` brings the rest of the page up to date.
export function setupDraftShelf(initial, { onChange = async () => {} } = {}) {
  let shelf = initial;
  const root = shelf.parentElement;
  const undoUrl = shelf.dataset.undoUrl;
  const refresh = async () => {
    shelf = await refreshShelf(shelf);
    await onChange();
  };
  root.addEventListener('submit', async (event) => {
    const form = event.target.closest('[data-shelf-schedule]');
    if (!form || !form.closest('[data-draft-shelf]')) return;
    event.preventDefault();
    const card = form.closest('[data-shelf-card]');
    const local = form.elements.local ? form.elements.local.value : '';
    card.classList.add('is-busy');
    form.querySelectorAll('button').forEach((b) => (b.disabled = true));
    try {
      const result = await send(form.action, local ? { local } : {});
      if (!result) return;
      await refresh();
      const toast = showToast({
        title: result.message,
        category: 'success',
        actions: [
          {
            label: 'Undo',
            onClick: async () => {
              try {
                const undone = await fetchJson(undoUrl, {
                  method: 'POST',
                  json: { undo: result.undo },
                });
                await refresh();
                toast.update({ title: `${undone.message} It is a draft again.` });
              } catch (err) {
                toast.update({ title: err.message, category: 'danger' });
              }
            },
          },
        ],
      });
    } catch (err) {
      showToast({ title: err.message, category: 'danger' });
    } finally {
      card.classList.remove('is-busy');
      form.querySelectorAll('button').forEach((b) => (b.disabled = false));
    }
  });
}
