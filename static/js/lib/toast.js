// Messages about what just happened, fixed at the bottom of the screen where
// the person is looking and their thumb is: a move with its Undo, publishing
// progress. One at a time: a new toast replaces the last. Server text always
// goes in as text.

// Show a toast; returns { element, update(options), close() }.
//   title, text: the message; items: [{ image, label, detail }] listed below it
//   category: 'info' | 'success' | 'danger'; busy: show a spinner
//   actions: [{ label, onClick, shortcut }]; link: { href, label } (new tab)
export function showToast(options) {
  const area = document.getElementById('toasts');
  const toast = document.createElement('div');
  area.replaceChildren(toast);
  const handle = {
    element: toast,
    update: (next) => render(toast, next, handle),
    close: () => {
      toast.remove();
      area.setAttribute('aria-live', 'polite');
    },
  };
  render(toast, options, handle);
  return handle;
}

function render(toast, options, handle) {
  const {
    title = '',
    text = '',
    items = [],
    category = 'info',
    busy = false,
    actions = [],
    link = null,
  } = options;
  toast.className = `app-toast app-toast-${category}`;
  // Failures interrupt; progress and confirmations wait their turn.
  toast.parentElement.setAttribute('aria-live', category === 'danger' ? 'assertive' : 'polite');
  const parts = [];
  if (busy) {
    const spinner = document.createElement('span');
    spinner.className = 'spinner-border spinner-border-sm';
    spinner.setAttribute('aria-hidden', 'true');
    parts.push(spinner);
  }
  const body = document.createElement('div');
  body.className = 'app-toast-body';
  if (title) body.append(element('p', 'app-toast-title', title));
  if (text) body.append(element('p', '', text));
  if (items.length) body.append(itemList(items));
  const footer = document.createElement('div');
  footer.className = 'app-toast-actions';
  if (link) {
    const anchor = element('a', '', link.label);
    anchor.href = link.href;
    anchor.target = '_blank';
    anchor.rel = 'noopener';
    footer.append(anchor);
  }
  actions.forEach(({ label, onClick, shortcut }) => {
    const button = element('button', 'btn btn-sm btn-light', label);
    button.type = 'button';
    if (shortcut) button.setAttribute('aria-keyshortcuts', shortcut);
    button.addEventListener('click', () => onClick(handle));
    footer.append(button);
  });
  if (footer.childElementCount) body.append(footer);
  parts.push(body);
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'btn-close btn-close-white';
  close.setAttribute('aria-label', 'Close message');
  close.addEventListener('click', handle.close);
  parts.push(close);
  toast.replaceChildren(...parts);
}

function itemList(items) {
  const list = document.createElement('ul');
  list.className = 'app-toast-items';
  items.forEach(({ image, label, detail }) => {
    const item = document.createElement('li');
    if (image) {
      const img = document.createElement('img');
      img.src = image;
      img.alt = '';
      item.append(img);
    }
    const words = element('span', '', label);
    if (detail) words.append(element('span', 'app-toast-when', detail));
    item.append(words);
    list.append(item);
  });
  return list;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  el.textContent = text;
  return el;
}
