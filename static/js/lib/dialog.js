// "Are you sure?" as an accessible modal dialog (the native <dialog>: focus
// stays inside, Escape cancels, the page behind is inert), styled like the
// rest of the page instead of the browser's window.confirm().

let counter = 0;

// Ask; resolves true when the person confirms, false when they cancel or close.
export function confirmDialog({ title, text = '', confirmLabel = 'OK', danger = false }) {
  counter += 1;
  const id = `confirm-dialog-${counter}`;
  const dialog = document.createElement('dialog');
  dialog.className = 'confirm-dialog';
  dialog.setAttribute('aria-labelledby', `${id}-title`);
  const form = document.createElement('form');
  form.method = 'dialog';
  const heading = document.createElement('h2');
  heading.className = 'h5';
  heading.id = `${id}-title`;
  heading.textContent = title;
  form.append(heading);
  if (text) {
    const body = document.createElement('p');
    body.className = 'mb-0';
    body.id = `${id}-text`;
    body.textContent = text;
    dialog.setAttribute('aria-describedby', body.id);
    form.append(body);
  }
  const actions = document.createElement('div');
  actions.className = 'confirm-dialog-actions';
  const cancel = button('Cancel', 'cancel', 'btn btn-outline-secondary');
  const confirm = button(confirmLabel, 'confirm', danger ? 'btn btn-danger' : 'btn btn-primary');
  actions.append(cancel, confirm);
  form.append(actions);
  dialog.append(form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        resolve(dialog.returnValue === 'confirm');
        dialog.remove();
      },
      { once: true },
    );
    dialog.showModal();
    // Destructive actions start on Cancel, so Enter does no harm.
    (danger ? cancel : confirm).focus();
  });
}

function button(label, value, className) {
  const el = document.createElement('button');
  el.type = 'submit';
  el.value = value;
  el.className = className;
  el.textContent = label;
  return el;
}
