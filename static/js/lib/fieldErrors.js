// Errors shown at the field they are about, all at once: the message in the
// field's [data-field-error] element, and the control marked aria-invalid and
// described by it (the same markup the server renders: _macros.html).

import { clearAlerts, showAlert } from './alerts.js';

// The control a field name stands for: the named input, or for fields without
// one in sight (the image, once chosen) the first control of its [data-field].
function control(form, name) {
  return form.querySelector(`[name="${name}"]`);
}

function describedBy(el, id, on) {
  const ids = new Set((el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  if (on) ids.add(id);
  else ids.delete(id);
  if (ids.size) el.setAttribute('aria-describedby', [...ids].join(' '));
  else el.removeAttribute('aria-describedby');
}

// Show `message` at field `name` (an empty message clears it).
export function setFieldError(form, name, message) {
  const box = form.querySelector(`[data-field-error="${name}"]`);
  const el = control(form, name);
  if (box) {
    box.textContent = message || '';
    box.hidden = !message;
  }
  if (el) {
    el.classList.toggle('is-invalid', Boolean(message));
    if (message) el.setAttribute('aria-invalid', 'true');
    else el.removeAttribute('aria-invalid');
    if (box) describedBy(el, box.id, Boolean(message));
  }
}

// Replace every field error of the form with `errors` ({field: message}).
export function showFieldErrors(form, errors) {
  form.querySelectorAll('[data-field-error]').forEach((box) => {
    setFieldError(form, box.dataset.fieldError, errors[box.dataset.fieldError] || '');
  });
}

export function clearFieldErrors(form) {
  showFieldErrors(form, {});
}

// The first field with an error, in page order, to focus.
export function firstInvalid(form) {
  const box = [...form.querySelectorAll('[data-field-error]')].find((el) => !el.hidden);
  if (!box) return null;
  const el = control(form, box.dataset.fieldError);
  if (el && !el.closest('[hidden]') && !el.disabled) return el;
  const field = box.closest('[data-field]');
  return field ? field.querySelector('button:not([disabled]), input:not([disabled])') : null;
}

// Mark every field at fault, sum them up above the button (in the form's
// [data-form-alerts], naming each field by its entry in ``labels``), and take
// the person to the first.
export function reportProblems(form, problems, labels) {
  const alerts = form.querySelector('[data-form-alerts]');
  showFieldErrors(form, problems);
  clearAlerts(alerts);
  const names = Object.keys(problems).map((name) => labels[name] || name);
  const count = names.length === 1 ? '1 field needs' : `${names.length} fields need`;
  showAlert(`${count} your attention: ${names.join(', ')}.`, 'danger', alerts);
  const first = firstInvalid(form);
  if (first) first.focus();
}
