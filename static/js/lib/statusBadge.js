// A post's status badge (the status_badge macro in _macros.html), updated in
// place as publishing goes on: Scheduled, Waiting, Publishing…, Checking with
// Instagram…, Published, Failed.

const STATUS_LABELS = {
  scheduled: 'Scheduled',
  publishing: 'Publishing…',
  published: 'Published',
  failed: 'Failed',
};

// Update a status badge rendered by the status_badge macro from a status payload.
export function renderStatusBadge(badge, data) {
  const waiting = data.status === 'scheduled' && data.waiting;
  const reason = data.status === 'failed' ? data.error : data.waiting;
  Object.keys(STATUS_LABELS).forEach((status) => badge.classList.remove(`status-${status}`));
  badge.classList.add(`status-${data.status}`);
  let label = STATUS_LABELS[data.status] || data.status;
  if (waiting) label = 'Waiting';
  else if (data.checking) label = 'Checking with Instagram…';
  badge.querySelector('[data-status-text]').textContent = label;
  badge.querySelector('[data-status-reason]').textContent = reason ? `: ${reason}` : '';
  if (reason) badge.title = reason;
  else badge.removeAttribute('title');
}
