// Form behaviour shared by pages: a form that asks "are you sure?" before it is
// sent (data-confirm), and locking a form while its request is under way.

// Forms with data-confirm ask first. The listener runs in the capture phase on
// the document, so it runs before any page's own submit handler.
export function confirmBeforeSubmit() {
  document.addEventListener(
    'submit',
    (event) => {
      const message = event.target.dataset.confirm;
      if (message && !window.confirm(message)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );
}

// Disable every control of the form while busy; on release, re-enable only
// those that were enabled before.
export function setFormBusy(form, busy) {
  form.querySelectorAll('button, input, textarea, select').forEach((el) => {
    if (busy) {
      el.dataset.wasDisabled = el.disabled ? '1' : '';
      el.disabled = true;
    } else if (!el.dataset.wasDisabled) {
      el.disabled = false;
    }
  });
}
