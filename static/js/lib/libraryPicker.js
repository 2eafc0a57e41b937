// "Choose from library" on the New post page: a dialog of the images already
// uploaded (newest first, from the server's /library); picking one adds it to
// the composer ("media:library" event), which sends it as "lib:<id>" so the
// post shares the stored file instead of uploading it again.

import { fetchJson } from './http.js';

function tile(item, onPick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'library-item';
  const label = item.alt ? `Use image: ${item.alt}` : `Use image ${item.id}`;
  button.setAttribute('aria-label', label);
  const img = document.createElement('img');
  img.src = item.thumb;
  img.alt = '';
  img.loading = 'lazy';
  img.width = 120;
  img.height = 120;
  button.append(img);
  button.addEventListener('click', () => onPick(item));
  return button;
}

async function openPicker(button, composer) {
  const dialog = document.createElement('dialog');
  dialog.className = 'library-dialog';
  dialog.setAttribute('aria-labelledby', 'library-title');
  const head = document.createElement('div');
  head.className = 'library-head';
  const title = document.createElement('h2');
  title.className = 'h5 mb-0';
  title.id = 'library-title';
  title.textContent = 'Your media library';
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'btn btn-outline-secondary library-close';
  close.textContent = 'Close';
  close.addEventListener('click', () => dialog.close());
  head.append(title, close);
  const body = document.createElement('div');
  body.className = 'library-grid';
  body.setAttribute('role', 'status');
  body.textContent = 'Loading…';
  dialog.append(head, body);
  dialog.addEventListener('close', () => {
    dialog.remove();
    button.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  try {
    const data = await fetchJson(button.dataset.libraryUrl);
    body.removeAttribute('role');
    body.replaceChildren();
    if (!data.items.length) {
      body.textContent =
        'No images yet: the photos of your drafts and scheduled posts appear here.';
      return;
    }
    const pick = (item) => {
      composer.dispatchEvent(new CustomEvent('media:library', { detail: item }));
      dialog.close();
    };
    body.append(...data.items.map((item) => tile(item, pick)));
    body.querySelector('button').focus();
  } catch (err) {
    body.textContent = err.message;
  }
}

// Wire the [data-library-button] of a post form to its composer.
export function setupLibraryPicker(form) {
  const button = form.querySelector('[data-library-button]');
  const composer = form.querySelector('[data-media-composer]');
  if (!button || !composer) return;
  button.hidden = false;
  button.addEventListener('click', () => openPicker(button, composer));
}
