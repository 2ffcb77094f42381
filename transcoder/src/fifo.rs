//! A planar `f32` sample queue that turns arbitrary-sized decoded chunks into encoder frames.

/// Samples waiting for an encoder, one buffer per channel with a shared read offset.
///
/// Bounded by use: the pipeline drains it after every push, so it never holds more than one
/// decoded chunk plus one encoder frame (consumed space is reclaimed on the next push).
#[derive(Debug)]
pub(crate) struct PlanarFifo {
    planes: Vec<Vec<f32>>,
    start: usize,
}

impl PlanarFifo {
    /// An empty queue for `channels` channels.
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            planes: vec![Vec::new(); channels],
            start: 0,
        }
    }

    /// Samples queued per channel.
    pub(crate) fn len(&self) -> usize {
        self.planes.first().map_or(0, |p| p.len() - self.start)
    }

    /// Appends one chunk; `planes` must hold one equally long slice per channel.
    pub(crate) fn push(&mut self, planes: &[&[f32]]) {
        if self.start > 0 {
            for plane in &mut self.planes {
                plane.drain(..self.start);
            }
            self.start = 0;
        }
        for (queue, plane) in self.planes.iter_mut().zip(planes) {
            queue.extend_from_slice(plane);
        }
    }

    /// Copies the oldest `dest.len()` samples of `channel` into `dest` without consuming them
    /// (fewer if fewer are queued; the rest of `dest` is left as it was).
    pub(crate) fn peek_channel(&self, channel: usize, dest: &mut [f32]) {
        if let Some(plane) = self.planes.get(channel) {
            let queued = &plane[self.start..];
            let n = dest.len().min(queued.len());
            dest[..n].copy_from_slice(&queued[..n]);
        }
    }

    /// Drops the oldest `samples` samples of every channel.
    pub(crate) fn consume(&mut self, samples: usize) {
        self.start += samples.min(self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(fifo: &mut PlanarFifo, n: usize) -> (Vec<f32>, Vec<f32>) {
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        fifo.peek_channel(0, &mut a);
        fifo.peek_channel(1, &mut b);
        fifo.consume(n);
        (a, b)
    }

    #[test]
    fn keeps_order_across_uneven_chunks() {
        let mut fifo = PlanarFifo::new(2);
        fifo.push(&[&[1.0, 2.0, 3.0], &[-1.0, -2.0, -3.0]]);
        fifo.push(&[&[4.0], &[-4.0]]);
        assert_eq!(fifo.len(), 4);
        assert_eq!(
            pop(&mut fifo, 3),
            (vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0])
        );
        assert_eq!(fifo.len(), 1);
        fifo.push(&[&[5.0, 6.0], &[-5.0, -6.0]]);
        assert_eq!(pop(&mut fifo, 2), (vec![4.0, 5.0], vec![-4.0, -5.0]));
        assert_eq!(pop(&mut fifo, 1), (vec![6.0], vec![-6.0]));
        assert_eq!(fifo.len(), 0);
        fifo.consume(10);
        assert_eq!(fifo.len(), 0);
    }
}
