// The one shape of a post's images: Instagram crops every image of a carousel
// to its first one's shape, so the composer offers 4:5, 1:1, 1.91:1 or Free
// (the first image's own crop, within 4:5-1.91:1) for all of them, and each
// image keeps its own crop position.

import { centerOf, clampRatio, fitCrop } from './mediaCrop.js';

export class CarouselShape {
  // `items`: the composer's images (the same array, changed in place);
  // `limits`: {min_ratio, max_ratio}; `ratioButtons`: the shape buttons.
  constructor(items, limits, ratioButtons) {
    this.items = items;
    this.limits = limits;
    this.ratioButtons = ratioButtons;
    // 'free', or a button's data-ratio ("0.8", "1", "1.91").
    this.ratio = items.length ? this.ratioOfKept(items[0]) : 'free';
  }

  // The shape to start from with a new first image: its own if Instagram
  // accepts it, else the nearest accepted one.
  defaultRatio(item) {
    if (!item.natural) return 'free';
    const ratio = item.natural.width / item.natural.height;
    if (ratio > this.limits.max_ratio) return String(this.limits.max_ratio);
    if (ratio < this.limits.min_ratio) return String(this.limits.min_ratio);
    return 'free';
  }

  // A kept image already has the post's shape: the button of that shape, or Free.
  ratioOfKept(item) {
    const ratio = item.natural.width / item.natural.height;
    const button = this.ratioButtons.find(
      (b) => b.dataset.ratio !== 'free' && Math.abs(Number(b.dataset.ratio) - ratio) < 0.01 * ratio,
    );
    return button ? button.dataset.ratio : 'free';
  }

  // The shape image `index` is cropped to: the chosen one, or with Free the
  // first image's (null for the first image itself: free within 4:5-1.91:1).
  ratioFor(index) {
    if (this.ratio !== 'free') return Number(this.ratio);
    if (index === 0 || !this.items.length) return null;
    const first = this.cropOf(this.items[0], 0);
    return first ? first.width / first.height : null;
  }

  // Where image `index` is cut: its own crop, moved to the shape if it changed.
  cropOf(item, index) {
    if (!item.natural) return null;
    let ratio = this.ratioFor(index);
    if (ratio === null) {
      if (item.crop) return item.crop;
      ratio = clampRatio(item.natural.width / item.natural.height, this.limits);
    }
    const current = item.crop;
    if (!current || Math.abs(current.width / current.height - ratio) > ratio * 0.005) {
      item.crop = fitCrop(item.natural, ratio, current ? centerOf(current) : undefined);
    }
    return item.crop;
  }
}
