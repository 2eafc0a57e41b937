// Form behaviour shared by pages: a form that asks "are you sure?" before it is
// sent (data-confirm), and locking a form while its request is under way.

import { confirmDialog } from './dialog.js';

// Forms with data-confirm ask first, in a dialog: data-confirm-title is the
// question, data-confirm the explanation, data-confirm-action the button's
// label, data-confirm-danger makes it red. The listener runs in the capture
// phase on the document, so it runs before any page's own submit handler;
// once confirmed, the form is submitted again and let through.
export function confirmBeforeSubmit() {
  document.addEventListener(
    'submit',
    async (event) => {
      const form = event.target;
      const { confirm: text, confirmTitle, confirmAction } = form.dataset;
      if (text === undefined && confirmTitle === undefined) return;
      if (form.dataset.confirmed) {
        delete form.dataset.confirmed;
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
      const { submitter } = event;
      const ok = await confirmDialog({
        title: confirmTitle || text,
        text: confirmTitle ? text : '',
        confirmLabel: confirmAction || 'OK',
        danger: 'confirmDanger' in form.dataset,
      });
      if (!ok) {
        if (submitter) submitter.focus();
        return;
      }
      form.dataset.confirmed = '1';
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
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
