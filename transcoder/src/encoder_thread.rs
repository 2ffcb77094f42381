//! One output's encoder on a thread of its own.
//!
//! Decoding, resampling and the AAC encoder already fill one core; the MP3 download is a
//! second, independent encode of the same samples. Running it beside the main loop brings a
//! single upload's wall time down to roughly that of its slowest encoder (what an artist
//! waiting for a track notices), while the pool's worker count still bounds the processes.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::error::TranscodeError;

/// Sample chunks queued for the encoder thread before the decoder waits: a few hundred ms of
/// audio, enough to absorb scheduling jitter without holding the track in memory.
const QUEUED_CHUNKS: usize = 64;

/// An encoder that can be fed planar samples and finished.
pub(crate) trait SampleEncoder: Send + 'static {
    /// What finishing returns.
    type Output: Send + 'static;
    /// Encodes one chunk of planar samples.
    fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError>;
    /// Flushes and closes the output.
    fn finish(self) -> Result<Self::Output, TranscodeError>;
}

enum Message {
    Samples(Vec<Vec<f32>>),
    Finish,
}

/// A [`SampleEncoder`] running on its own thread. Dropping it without
/// [`finish`](Self::finish) abandons the output (the thread stops without writing a trailer).
pub(crate) struct EncoderThread<T: Send + 'static> {
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<Result<Option<T>, TranscodeError>>>,
    name: &'static str,
}

impl<T: Send + 'static> EncoderThread<T> {
    /// Moves `encoder` (already opened, so opening errors surface at once) to a new thread.
    pub(crate) fn spawn<E>(name: &'static str, encoder: E) -> Result<Self, TranscodeError>
    where
        E: SampleEncoder<Output = T>,
    {
        let (tx, rx) = mpsc::sync_channel(QUEUED_CHUNKS);
        let thread = std::thread::Builder::new()
            .name(format!("{name} encoder"))
            .spawn(move || run(encoder, rx))
            .map_err(|e| {
                TranscodeError::Internal(format!("cannot start the {name} thread: {e}"))
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            name,
        })
    }

    /// Queues a copy of `planes`; waits while the queue is full. If the encoder failed, returns
    /// its error.
    pub(crate) fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
        let chunk = planes.iter().map(|p| p.to_vec()).collect();
        let sent = match &self.tx {
            Some(tx) => tx.send(Message::Samples(chunk)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The thread ended early: only an encoder error does that.
            Err(self.join().err().unwrap_or_else(|| {
                TranscodeError::Internal(format!("the {} encoder stopped", self.name))
            }))
        }
    }

    /// Finishes the output and returns what the encoder's `finish` returned.
    pub(crate) fn finish(mut self) -> Result<T, TranscodeError> {
        if let Some(tx) = &self.tx {
            // A failed send means the thread already ended; join reports why.
            let _ = tx.send(Message::Finish);
        }
        self.join()?.ok_or_else(|| {
            TranscodeError::Internal(format!("the {} encoder was not finished", self.name))
        })
    }

    fn join(&mut self) -> Result<Option<T>, TranscodeError> {
        self.tx = None;
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| {
                TranscodeError::Internal(format!("the {} encoder thread panicked", self.name))
            })?,
            None => Ok(None),
        }
    }
}

impl<T: Send + 'static> Drop for EncoderThread<T> {
    fn drop(&mut self) {
        // Closing the channel without `Finish` makes the thread drop the encoder unfinished.
        let _ = self.join();
    }
}

fn run<E: SampleEncoder>(
    mut encoder: E,
    rx: Receiver<Message>,
) -> Result<Option<E::Output>, TranscodeError> {
    for message in rx {
        match message {
            Message::Samples(chunk) => {
                let planes: Vec<&[f32]> = chunk.iter().map(Vec::as_slice).collect();
                encoder.push(&planes)?;
            }
            Message::Finish => return encoder.finish().map(Some),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums what it is fed; fails on a chunk starting with a negative sample.
    struct Summer(f64);

    impl SampleEncoder for Summer {
        type Output = f64;
        fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
            if planes[0].first().is_some_and(|s| *s < 0.0) {
                return Err(TranscodeError::Internal("negative".into()));
            }
            self.0 += planes
                .iter()
                .flat_map(|p| p.iter())
                .map(|s| f64::from(*s))
                .sum::<f64>();
            Ok(())
        }
        fn finish(self) -> Result<f64, TranscodeError> {
            Ok(self.0)
        }
    }

    #[test]
    fn every_chunk_reaches_the_encoder_in_order_and_finish_returns_its_output() {
        let mut t = EncoderThread::spawn("test", Summer(0.0)).unwrap();
        for i in 0..1000 {
            let a = [i as f32; 4];
            let b = [1.0f32; 4];
            t.push(&[&a, &b]).unwrap();
        }
        let expected: f64 = (0..1000).map(|i| f64::from(i) * 4.0 + 4.0).sum();
        assert_eq!(t.finish().unwrap(), expected);
    }

    #[test]
    fn an_encoder_error_comes_back_from_a_later_push_or_finish() {
        let mut t = EncoderThread::spawn("test", Summer(0.0)).unwrap();
        t.push(&[&[-1.0f32][..]]).unwrap();
        // The failure surfaces on one of the following calls, never as a lost error.
        let mut failed = None;
        for _ in 0..(QUEUED_CHUNKS * 4) {
            if let Err(e) = t.push(&[&[1.0f32][..]]) {
                failed = Some(e);
                break;
            }
        }
        let err = match failed {
            Some(e) => e,
            None => t.finish().unwrap_err(),
        };
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn dropping_without_finish_does_not_hang() {
        let mut t = EncoderThread::spawn("test", Summer(0.0)).unwrap();
        t.push(&[&[1.0f32][..]]).unwrap();
        drop(t);
    }
}
