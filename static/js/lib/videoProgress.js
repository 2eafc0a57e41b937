// A Reel's or Story's post page: while its video converts, show the
// conversion's progress (polled from the server), then what was changed; the
// page reloads once the video is ready or failed, so every part is current.

import { fetchJson } from './http.js';

const POLL_MS = 1500;
const POLL_LIMIT = 1200; // half an hour, then the person reloads by hand

function render(section, data) {
  const bar = section.querySelector('[data-video-bar]');
  const text = section.querySelector('[data-video-text]');
  const percent = Math.round((data.progress || 0) * 100);
  bar.setAttribute('aria-valuenow', String(percent));
  bar.querySelector('.progress-bar').style.width = `${percent}%`;
  // A storage failure being retried says so (the server's sentence).
  const note = data.error ? `. ${data.error}` : '';
  text.textContent = `Converting for Instagram… ${percent}%${note}`;
}

// Follow the conversion shown in `root`'s [data-video-converting] section.
export function watchVideoConversion(root) {
  const section = root.querySelector('[data-video-converting]');
  if (!section) return;
  // The server's figure (inline styles are not allowed by the page's CSP).
  const bar = section.querySelector('.progress-bar');
  bar.style.width = `${bar.dataset.width || 0}%`;
  let polls = 0;
  const poll = async () => {
    polls += 1;
    // A missed poll is tried again.
    const data = await fetchJson(section.dataset.videoUrl).catch(() => null);
    if (data && data.status && data.status !== 'converting') {
      window.location.reload();
      return;
    }
    if (data) render(section, data);
    if (polls < POLL_LIMIT) window.setTimeout(poll, POLL_MS);
  };
  window.setTimeout(poll, POLL_MS);
}
