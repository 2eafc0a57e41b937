// Videos in the carousel composer (carousel.js): a video is sent as it is
// (the server checks it, fits it to the carousel's shape and converts it), so
// the composer only needs its length, its picture size and a poster frame for
// the filmstrip and the editor. Limits come from the composer's
// data-video-limits (ospost/carousel_videos.py client_limits()).

const VIDEO_NAME = /\.(mp4|m4v|mov|webm)$/i;
const POSTER_SIDE = 480; // the filmstrip and editor's picture of a video

// Whether a chosen file is a video (by its type, or its name when the
// browser gives no type).
export function isVideoFile(file) {
  if (file.type) return file.type.startsWith('video/');
  return VIDEO_NAME.test(file.name);
}

// Read a video file's length, size and first frame. Resolves to
// { url, poster, natural, duration } (poster '' and natural null when the
// browser cannot play it: the server still checks it).
export async function readVideo(file) {
  const url = URL.createObjectURL(file);
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  video.src = url;
  const loaded = await event(video, 'loadeddata');
  if (!loaded || !video.videoWidth) return { url, poster: '', natural: null, duration: null };
  // A moment in: many clips start on a black frame.
  video.currentTime = Math.min(0.1, video.duration / 2 || 0);
  await event(video, 'seeked');
  return {
    url,
    poster: posterOf(video),
    natural: { width: video.videoWidth, height: video.videoHeight },
    duration: video.duration,
  };
}

function event(video, name) {
  return new Promise((resolve) => {
    video.addEventListener(name, () => resolve(true), { once: true });
    video.addEventListener('error', () => resolve(false), { once: true });
  });
}

function posterOf(video) {
  const scale = Math.min(1, POSTER_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.85);
}

// What is wrong with the carousel's videos before sending ('' when nothing):
// a length Instagram refuses, or more bytes than one post may send.
export function videoProblem(items, limits) {
  for (const [index, item] of items.entries()) {
    if (!item.video || item.duration === null || item.duration === undefined) continue;
    if (item.duration < limits.min_s) {
      return `Video ${index + 1} is ${item.duration.toFixed(1)} s long; a carousel video must be at least ${limits.min_s} s.`;
    }
    if (item.duration > limits.max_s) {
      return `Video ${index + 1} is ${Math.round(item.duration)} s long; a carousel video may be at most ${limits.max_s} s. Trim it and try again.`;
    }
  }
  const bytes = items.reduce(
    (sum, item) => sum + (item.video && item.file ? item.file.size : 0),
    0,
  );
  if (bytes > limits.max_upload_bytes) {
    const mb = Math.ceil(bytes / (1024 * 1024));
    return `The videos add up to ${mb} MB; one post can send at most ${limits.max_upload_mb} MB. Remove a video or use a shorter one.`;
  }
  return '';
}
