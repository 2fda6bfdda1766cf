//! The gRPC codec of every mesoraft service: prost's encoding with small
//! initial buffers.
//!
//! tonic allocates a codec's buffer size eagerly for each call, once to
//! encode and once to decode (8 KiB each by default), and keeps both for
//! the life of a stream. The leader holds one long-lived stream per agent
//! that carries pings and pongs of a few bytes, so with the default the
//! two buffers were about 16 KiB of the leader's memory per agent. A
//! buffer still grows to the largest message its stream carries (tonic
//! reserves a whole message at once), so large messages cost no more
//! than one reallocation.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// The buffer a call starts with, each way: a ping, a pong or a small
/// registration fits.
pub const INITIAL_BUFFER_BYTES: usize = 512;
/// tonic's default: how many bytes of ready messages are batched into one
/// write of a stream.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(INITIAL_BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

/// `application/grpc+proto` through prost, starting with
/// [`INITIAL_BUFFER_BYTES`] buffers (the generated clients and servers
/// use it: `codec_path` in `build.rs`).
#[derive(Debug, Clone)]
pub struct LeanCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for LeanCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for LeanCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(buffer_settings())
    }
}

#[cfg(test)]
mod tests {
    use tonic::codec::{Decoder, Encoder};

    use super::*;
    use crate::agent::AgentToMaster;

    #[test]
    fn calls_start_with_small_buffers_both_ways() {
        let mut codec = LeanCodec::<AgentToMaster, AgentToMaster>::default();
        // BufferSettings shows its fields only through Debug.
        let shown = |settings: BufferSettings| format!("{settings:?}");
        let expected = shown(BufferSettings::new(512, 32 * 1024));
        assert_eq!(shown(codec.encoder().buffer_settings()), expected);
        assert_eq!(shown(codec.decoder().buffer_settings()), expected);
        assert!(!shown(BufferSettings::default()).contains("buffer_size: 512,"));
    }
}
