// Account page: offer the browser's time zone when it differs from the saved
// one, show what a new zone does to the next scheduled post (same moment, or
// same clock time), and ask before deleting the account (data-confirm).

import { confirmBeforeSubmit } from '../lib/forms.js';

function offerBrowserZone() {
  const select = document.querySelector('[data-timezone-select]');
  const hint = document.querySelector('[data-browser-zone]');
  if (!select || !hint) return;
  let zone = '';
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return;
  }
  const known = [...select.options].some((option) => option.value === zone);
  if (!zone || !known || zone === select.value) return;
  hint.querySelector('[data-browser-zone-name]').textContent = zone;
  hint.hidden = false;
  hint.querySelector('[data-use-browser-zone]').addEventListener('click', () => {
    select.value = zone;
    select.dispatchEvent(new Event('change'));
    select.focus();
  });
}

// "Dec 1, 09:00 JST": an instant on the clocks of `zone`.
function shown(date, zone) {
  return new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).format(date);
}

// The wall-clock fields of an instant in `zone`, as a UTC timestamp.
function wallClock(date, zone) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  }).formatToParts(date);
  const get = (type) => Number(parts.find((part) => part.type === type).value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
}

// The instant that reads `clock` (a UTC timestamp of wall-clock fields) in
// `zone`. Two rounds settle the zone's offset, DST included; like the server,
// a skipped time lands past the jump.
function atClock(clock, zone) {
  let guess = clock;
  for (let i = 0; i < 2; i += 1) guess = clock - (wallClock(new Date(guess), zone) - guess);
  return new Date(guess);
}

function hoursApart(a, b) {
  const hours = Math.round((Math.abs(a - b) / 3600000) * 4) / 4;
  if (!hours) return 'the same moment as now';
  const unit = hours === 1 ? 'hour' : 'hours';
  return `${hours} ${unit} ${a < b ? 'earlier' : 'later'} than it is due now`;
}

function explainZoneChange() {
  const box = document.querySelector('[data-tz-keep]');
  const select = document.querySelector('[data-timezone-select]');
  if (!box || !select) return;
  const due = new Date(box.dataset.nextDue);
  const current = box.dataset.currentZone;
  const moments = box.querySelector('[data-example-moments]');
  const clock = box.querySelector('[data-example-clock]');
  function update() {
    const zone = select.value;
    if (zone === current) {
      moments.textContent = '';
      clock.textContent = '';
      return;
    }
    try {
      const moved = atClock(wallClock(due, current), zone);
      moments.textContent = `In ${zone} your next post reads ${shown(due, zone)}.`;
      clock.textContent = `Your next post would go out ${shown(moved, zone)}, ${hoursApart(moved, due)}.`;
    } catch {
      moments.textContent = '';
      clock.textContent = '';
    }
  }
  select.addEventListener('change', update);
  update();
}

confirmBeforeSubmit();
offerBrowserZone();
explainZoneChange();
