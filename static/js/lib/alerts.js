// Messages for the person: dismissible Bootstrap alerts in the page's #alerts
// area (or a form's own alert box), with server text always inserted as text.

// Show a dismissible Bootstrap alert; server text always goes in as textContent.
export function showAlert(text, category = 'danger', container = null) {
  const target = container || document.getElementById('alerts');
  const alert = document.createElement('div');
  alert.className = `alert alert-${category} alert-dismissible fade show`;
  alert.setAttribute('role', 'alert');
  const message = document.createElement('span');
  message.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'btn-close';
  close.setAttribute('aria-label', 'Close');
  close.addEventListener('click', () => alert.remove());
  alert.append(message, close);
  target.append(alert);
  alert.scrollIntoView({ block: 'nearest' });
  return alert;
}

export function clearAlerts(container = null) {
  const target = container || document.getElementById('alerts');
  target.replaceChildren();
}
