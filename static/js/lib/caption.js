// The caption field's live counters: characters, hashtags and @mentions against
// Instagram's limits (from the server), red when over, and the form refuses to
// submit while the caption breaks one of them. The first comment has the same
// limits, counted on their own, and uses the same counters.

// What is counted, in the order the counters show.
const COUNTED = ['chars', 'hashtags', 'mentions'];
const NAMES = { chars: 'characters', hashtags: 'hashtags', mentions: '@mentions' };
// Python's \w (Unicode letters, digits, underscore), as the server counts them.
const HASHTAG_RE = /(?<![\p{L}\p{N}_#])#[\p{L}\p{N}_]+/gu;
const MENTION_RE = /(?<![\p{L}\p{N}_@])@[\p{L}\p{N}_.]+/gu;

function captionStats(text) {
  return {
    chars: [...text].length,
    hashtags: (text.match(HASHTAG_RE) || []).length,
    mentions: (text.match(MENTION_RE) || []).length,
  };
}

function captionProblems(stats, limits, noun) {
  return COUNTED.filter((key) => stats[key] > limits[key]).map(
    (key) => `The ${noun} has ${stats[key]} ${NAMES[key]}; Instagram allows ${limits[key]}.`,
  );
}

// Replace the caption's help text with live counters that turn red when over.
// `limits` is {chars, hashtags, mentions}: the caption part of data-limits;
// `noun` names the text in messages ("caption", "first comment").
export function setupCaptionCounter(textarea, limits, { noun = 'caption' } = {}) {
  const field = textarea.parentElement;
  // The caption's own help is [data-caption-help]; other counted fields (the
  // first comment) mark theirs [data-counter-help].
  const help = field.querySelector('[data-caption-help], [data-counter-help]');
  const live = field.querySelector('[data-caption-live], [data-counter-live]');
  const counters = {};
  help.replaceChildren();
  COUNTED.forEach((key, i) => {
    const counter = document.createElement('span');
    counter.className = 'caption-count';
    help.append(counter);
    if (i < COUNTED.length - 1) help.append(' · ');
    counters[key] = counter;
  });
  let lastProblems = '';
  function update() {
    const stats = captionStats(textarea.value);
    Object.entries(counters).forEach(([key, counter]) => {
      const over = stats[key] > limits[key];
      counter.textContent = `${stats[key].toLocaleString('en')} / ${limits[key].toLocaleString('en')} ${NAMES[key]}`;
      counter.classList.toggle('text-danger', over);
      counter.classList.toggle('fw-semibold', over);
    });
    const problems = captionProblems(stats, limits, noun).join(' ');
    textarea.setCustomValidity(problems);
    textarea.classList.toggle('is-invalid', Boolean(problems));
    if (problems !== lastProblems) live.textContent = problems;
    lastProblems = problems;
  }
  textarea.addEventListener('input', update);
  update();
}
