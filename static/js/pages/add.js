// New post page: pick and crop the image (or choose one from the media
// library), write the caption with live counters, choose the date, and upload
// with a progress bar (see lib/postForm.js).

import { setupLibraryPicker } from '../lib/libraryPicker.js';
import { setupPostForm } from '../lib/postForm.js';

const form = document.querySelector('[data-post-form]');
if (form) {
  setupPostForm(form);
  setupLibraryPicker(form);
}
