// The "Publish at" field: the browser's date picker offers only times from a
// minute from now up to the furthest day Ospost schedules (data-max-days), on
// the clock of the person's chosen time zone (data-timezone), and a time that
// has passed is pointed out as soon as it is typed, before the form is sent.

// "2026-12-01T09:30" for an instant, as a clock in the zone ``tz`` shows it.
export function localInputValue(date, tz) {
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

// What is wrong with the input's date as far as the browser can tell ('' if
// nothing): missing, or not in the future on the person's clock. Both values
// are "YYYY-MM-DDTHH:MM", so comparing the strings compares the times.
export function dateProblem(input) {
  if (!input.value) return 'Choose when to publish the post.';
  let now;
  try {
    now = localInputValue(new Date(), input.dataset.timezone);
  } catch {
    return '';
  }
  if (input.value <= now) {
    const shown = now.replace('T', ' at ');
    return `This time has passed: pick a time in the future (it is now ${shown} in ${input.dataset.timezone}).`;
  }
  return '';
}
