//! Without Unix descriptors there is no stdio pipe: `serve_stdio` says so.

use std::io;
use std::task::Context;

use crate::sockets::{Read, Wrote};

/// Never made: [`PipeIo::stdio`] fails.
pub(crate) struct PipeIo(());

impl PipeIo {
    pub(crate) fn stdio() -> io::Result<PipeIo> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "serve_stdio is available on Unix only",
        ))
    }

    pub(crate) fn read(&mut self, _: &mut Context<'_>, _: &mut [u8]) -> Read {
        Read::Failed
    }

    pub(crate) fn write(&mut self, _: &mut Context<'_>, _: &[u8]) -> Wrote {
        Wrote::Failed
    }
}
