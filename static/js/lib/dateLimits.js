// The "Publish at" field: the browser's date picker offers only times from a
// minute from now up to the furthest day Ospost schedules (data-max-days), on
// the clock of the person's chosen time zone (data-timezone).

// "2026-12-01T09:30" for an instant, as a clock in the zone ``tz`` shows it.
function localInputValue(date, tz) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(date);
  const get = (type) => parts.find((part) => part.type === type).value;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}

// Best-effort min/max on the datetime-local input; the server has the last word.
export function setupDateLimits(input) {
  const tz = input.dataset.timezone;
  const days = Number(input.dataset.maxDays) || 50;
  try {
    const now = Date.now();
    input.min = localInputValue(new Date(now + 60 * 1000), tz);
    input.max = localInputValue(new Date(now + days * 24 * 3600 * 1000), tz);
  } catch {
    // Unknown zone in this browser: leave it to the server.
  }
}
