use std::path::PathBuf;

/// Images with class labels, held in memory as 8-bit RGB.
///
/// `images` contains `len()` images of `height x width x 3` bytes each, in
/// row-major HWC order (R, G, B per pixel), stored back to back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub images: Vec<u8>,
    /// Class index of each image, an index into `classes`.
    pub labels: Vec<u16>,
    /// Class names in label order.
    pub classes: Vec<String>,
    pub height: usize,
    pub width: usize,
}

/// Summary of a load: the files that could not be decoded and were left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub skipped: Vec<PathBuf>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of bytes of one image (`height * width * 3`).
    pub fn image_len(&self) -> usize {
        self.height * self.width * 3
    }

    /// Pixels of image `i` in HWC order. Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Class index of image `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        usize::from(self.labels[i])
    }

    pub fn num_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of images of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }

    /// Copies the images at `indices`, in that order, into a new dataset.
    /// Panics if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            images,
            labels,
            classes: self.classes.clone(),
            height: self.height,
            width: self.width,
        }
    }
}
