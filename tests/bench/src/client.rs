//! A minimal HTTP/1.1 client connection for the load generator: it writes prepared requests
//! and reads responses (`Content-Length`, chunked, or to the end of the connection) with
//! `httparse`, one buffer per connection and no per-response header map.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive client connection.
pub struct Conn {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The parts of a response head the generator looks at.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    pub session_id: Option<String>,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Conn {
    /// Connects with `TCP_NODELAY`.
    pub async fn connect(address: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buffer: vec![0; 4 * 1024],
            start: 0,
            end: 0,
        })
    }

    /// Closes with a reset instead of a FIN, so that thousands of benchmark connections do not
    /// sit in TIME_WAIT and exhaust the ephemeral ports for the next scenario.
    pub fn abort(self) {
        let _ = self.stream.set_zero_linger();
    }

    pub async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request).await
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buffer.len() {
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buffer[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    pub async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer[self.start..self.end]) {
                Ok(httparse::Status::Complete(length)) => {
                    let mut framing = Framing::UntilClose;
                    let mut session_id = None;
                    for header in response.headers.iter() {
                        if header.name.eq_ignore_ascii_case("content-length") {
                            let value = std::str::from_utf8(header.value)
                                .ok()
                                .and_then(|v| v.trim().parse().ok())
                                .ok_or_else(|| invalid("bad content-length"))?;
                            framing = Framing::Length(value);
                        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                            framing = Framing::Chunked;
                        } else if header.name.eq_ignore_ascii_case("mcp-session-id") {
                            session_id = std::str::from_utf8(header.value).ok().map(String::from);
                        }
                    }
                    let status = response.code.unwrap_or(0);
                    if status == 204 || status == 304 {
                        framing = Framing::Length(0);
                    }
                    self.start += length;
                    return Ok(Head {
                        status,
                        framing,
                        session_id,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(error) => return Err(invalid(format!("response head: {error}"))),
            }
        }
    }

    /// Takes `n` buffered-or-read bytes.
    async fn take(&mut self, n: usize, into: &mut Vec<u8>) -> io::Result<()> {
        while self.end - self.start < n {
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        into.extend_from_slice(&self.buffer[self.start..self.start + n]);
        self.start += n;
        Ok(())
    }

    /// One line without its CRLF.
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let unread = &self.buffer[self.start..self.end];
            if let Some(at) = unread.windows(2).position(|w| w == b"\r\n") {
                let line = unread[..at].to_vec();
                self.start += at + 2;
                return Ok(line);
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// The data of the next chunk of a chunked body, or `None` after the last chunk.
    pub async fn read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size_line = self.line().await?;
        let size = std::str::from_utf8(&size_line)
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .ok_or_else(|| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers end with an empty line.
            while !self.line().await?.is_empty() {}
            return Ok(None);
        }
        let mut data = Vec::with_capacity(size);
        self.take(size, &mut data).await?;
        if !self.line().await?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
        Ok(Some(data))
    }

    /// The whole body of a response whose head was just read.
    pub async fn read_body(&mut self, head: &Head) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        match head.framing {
            Framing::Length(n) => self.take(n, &mut body).await?,
            Framing::Chunked => {
                while let Some(chunk) = self.read_chunk().await? {
                    body.extend_from_slice(&chunk);
                }
            }
            Framing::UntilClose => loop {
                body.extend_from_slice(&self.buffer[self.start..self.end]);
                self.start = self.end;
                if self.fill().await? == 0 {
                    break;
                }
            },
        }
        Ok(body)
    }

    /// Sends a request and reads its whole response.
    pub async fn exchange(&mut self, request: &[u8]) -> io::Result<(Head, Vec<u8>)> {
        self.send(request).await?;
        let head = self.read_head().await?;
        let body = self.read_body(&head).await?;
        Ok((head, body))
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
