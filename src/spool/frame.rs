//! The on-disk framing: `MAGIC`, payload length (u32 LE), CRC32 of the payload (u32 LE), then
//! the payload, the JSON of one [`Record`]. Decoding never fails as a whole: it returns the good
//! records and the byte ranges it had to skip.

use super::{Record, SpoolError};

/// Starts every frame. 0xF7 never occurs in UTF-8, so never in a JSON payload: scanning a
/// damaged frame's payload for the next magic cannot stop inside that payload.
pub(crate) const MAGIC: [u8; 4] = [0xF7, b'S', b'P', b'L'];

/// Magic, length, CRC.
pub(crate) const HEADER_LEN: usize = 12;

/// The largest payload a frame may carry; a longer length field is taken as corruption.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

/// Frames `record`: header then payload.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, SpoolError> {
    let payload = serde_json::to_vec(record)?;
    let too_large = SpoolError::TooLarge {
        len: payload.len(),
        limit: MAX_PAYLOAD,
    };
    if payload.len() > MAX_PAYLOAD {
        return Err(too_large);
    }
    let len = u32::try_from(payload.len()).map_err(|_| too_large)?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&MAGIC);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// A run of bytes between good frames (or after the last one) that held no good record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Where the run starts in the file.
    pub offset: usize,
    pub len: usize,
}

/// What a decode of one file found.
#[derive(Debug)]
pub(crate) struct Scan {
    pub records: Vec<Record>,
    /// Each maximal damaged run once, in file order.
    pub damaged: Vec<Damage>,
    /// The end of the last good frame: everything after it is a torn (or corrupt) tail.
    pub good_end: usize,
}

enum Frame {
    Good {
        record: Box<Record>,
        len: usize,
    },
    /// The CRC matched but the payload is not a `Record` (a newer format, or a bug): its
    /// boundaries are trustworthy, so the scan steps over exactly this frame.
    Undecodable {
        len: usize,
    },
    /// Bad magic, length, CRC, or cut short: where the frame ends is unknown.
    Bad,
}

fn read_frame(buf: &[u8]) -> Frame {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Frame::Bad;
    };
    let [m0, m1, m2, m3, l0, l1, l2, l3, c0, c1, c2, c3] = *header;
    if [m0, m1, m2, m3] != MAGIC {
        return Frame::Bad;
    }
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let Ok(len) = usize::try_from(u32::from_le_bytes([l0, l1, l2, l3])) else {
        return Frame::Bad;
    };
    if len > MAX_PAYLOAD {
        return Frame::Bad;
    }
    let Some(payload) = rest.get(..len) else {
        return Frame::Bad;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::Bad;
    }
    match serde_json::from_slice(payload) {
        Ok(record) => Frame::Good {
            record: Box::new(record),
            len: HEADER_LEN + len,
        },
        Err(_) => Frame::Undecodable {
            len: HEADER_LEN + len,
        },
    }
}

fn next_magic(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .map(|i| from + i)
}

/// Decodes every good frame in `bytes`. After a bad frame it resynchronises at the next magic,
/// so one damaged frame costs only itself.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut records = Vec::new();
    let mut damaged = Vec::new();
    let mut damage_start = None;
    let mut good_end = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        match read_frame(rest) {
            Frame::Good { record, len } => {
                if let Some(offset) = damage_start.take() {
                    damaged.push(Damage {
                        offset,
                        len: pos - offset,
                    });
                }
                records.push(*record);
                pos += len;
                good_end = pos;
            }
            Frame::Undecodable { len } => {
                damage_start.get_or_insert(pos);
                pos += len;
            }
            Frame::Bad => {
                damage_start.get_or_insert(pos);
                pos = next_magic(bytes, pos + 1).unwrap_or(bytes.len());
            }
        }
    }
    if let Some(offset) = damage_start {
        damaged.push(Damage {
            offset,
            len: bytes.len() - offset,
        });
    }
    Scan {
        records,
        damaged,
        good_end,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::spool::RecordKind;

    fn record(n: usize) -> Record {
        Record::new(
            RecordKind::Status,
            vec![("CallSid".into(), format!("CA{n:032}"))],
            Utc::now(),
        )
    }

    fn frames(records: &[Record]) -> Vec<Vec<u8>> {
        records
            .iter()
            .map(|r| encode(r).expect("encodes"))
            .collect()
    }

    #[test]
    fn good_frames_decode_in_order_with_nothing_skipped() {
        let records = [record(1), record(2), record(3)];
        let bytes = frames(&records).concat();

        let scan = scan(&bytes);

        assert_eq!(scan.records, records);
        assert!(scan.damaged.is_empty());
        assert_eq!(scan.good_end, bytes.len());
    }

    #[test]
    fn a_length_over_the_limit_is_corruption_and_the_next_frame_still_reads() {
        let records = [record(1), record(2)];
        let mut frames = frames(&records);
        let huge = u32::try_from(MAX_PAYLOAD + 1).expect("fits");
        frames[0][4..8].copy_from_slice(&huge.to_le_bytes());
        let bytes = frames.concat();

        let scan = scan(&bytes);

        assert_eq!(scan.records, records[1..]);
        assert_eq!(
            scan.damaged,
            [Damage {
                offset: 0,
                len: frames[0].len()
            }]
        );
    }

    #[test]
    fn a_crc_valid_frame_that_is_not_a_record_is_stepped_over() {
        let payload = br#"{"not":"a record"}"#;
        let mut odd = MAGIC.to_vec();
        odd.extend_from_slice(&u32::try_from(payload.len()).expect("fits").to_le_bytes());
        odd.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        odd.extend_from_slice(payload);
        let good = record(1);
        let bytes = [odd.clone(), encode(&good).expect("encodes")].concat();

        let scan = scan(&bytes);

        assert_eq!(scan.records, [good]);
        assert_eq!(
            scan.damaged,
            [Damage {
                offset: 0,
                len: odd.len()
            }]
        );
    }

    #[test]
    fn a_run_of_several_bad_frames_counts_as_one_damage() {
        let records = [record(1), record(2), record(3), record(4)];
        let mut frames = frames(&records);
        let last = frames[1].len() - 1;
        frames[1][last] ^= 0x01;
        frames[2][HEADER_LEN] ^= 0x01;
        let bytes = frames.concat();

        let scan = scan(&bytes);

        assert_eq!(scan.records, [records[0].clone(), records[3].clone()]);
        assert_eq!(
            scan.damaged,
            [Damage {
                offset: frames[0].len(),
                len: frames[1].len() + frames[2].len()
            }]
        );
    }

    #[test]
    fn a_cut_header_is_a_torn_tail() {
        let records = [record(1)];
        let mut bytes = frames(&records).concat();
        let good_len = bytes.len();
        bytes.extend_from_slice(&MAGIC[..3]);

        let scan = scan(&bytes);

        assert_eq!(scan.records, records);
        assert_eq!(scan.good_end, good_len);
        assert_eq!(
            scan.damaged,
            [Damage {
                offset: good_len,
                len: 3
            }]
        );
    }

    #[test]
    fn an_empty_file_holds_nothing() {
        let scan = scan(&[]);

        assert!(scan.records.is_empty());
        assert!(scan.damaged.is_empty());
        assert_eq!(scan.good_end, 0);
    }
}
