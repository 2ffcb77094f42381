//! A planar `f32` sample queue that turns arbitrary-sized decoded chunks into encoder frames.

use std::collections::VecDeque;

/// Samples waiting for an encoder, one queue per channel.
///
/// Bounded by use: the pipeline drains it after every push, so it never holds more than one
/// decoded chunk plus one encoder frame.
#[derive(Debug)]
pub(crate) struct PlanarFifo {
    planes: Vec<VecDeque<f32>>,
}

impl PlanarFifo {
    /// An empty queue for `channels` channels.
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            planes: (0..channels).map(|_| VecDeque::new()).collect(),
        }
    }

    /// Samples queued per channel.
    pub(crate) fn len(&self) -> usize {
        self.planes.first().map_or(0, VecDeque::len)
    }

    /// Appends one chunk; `planes` must hold one equally long slice per channel.
    pub(crate) fn push(&mut self, planes: &[&[f32]]) {
        for (queue, plane) in self.planes.iter_mut().zip(planes) {
            queue.extend(plane.iter().copied());
        }
    }

    /// Moves the oldest `dest.len()` samples of one channel into `dest` (fewer if not queued).
    ///
    /// Callers pop the same count from every channel so the channels stay aligned.
    pub(crate) fn pop_channel(&mut self, channel: usize, dest: &mut [f32]) {
        if let Some(queue) = self.planes.get_mut(channel) {
            let n = dest.len().min(queue.len());
            for (d, s) in dest.iter_mut().zip(queue.drain(..n)) {
                *d = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_uneven_chunks() {
        let mut fifo = PlanarFifo::new(2);
        fifo.push(&[&[1.0, 2.0, 3.0], &[-1.0, -2.0, -3.0]]);
        fifo.push(&[&[4.0], &[-4.0]]);
        assert_eq!(fifo.len(), 4);
        let (mut a, mut b) = ([0.0; 3], [0.0; 3]);
        fifo.pop_channel(0, &mut a);
        fifo.pop_channel(1, &mut b);
        assert_eq!((a, b), ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]));
        assert_eq!(fifo.len(), 1);
        let (mut a, mut b) = ([0.0; 1], [0.0; 1]);
        fifo.pop_channel(0, &mut a);
        fifo.pop_channel(1, &mut b);
        assert_eq!((a, b), ([4.0], [-4.0]));
        assert_eq!(fifo.len(), 0);
    }
}
