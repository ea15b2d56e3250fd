//! Program-specific information (ISO 13818-1 2.4.4): PAT and PMT sections, reassembled from
//! transport packets and checked with their CRC so that garbage never changes what we demux.

/// Longest PAT/PMT section: 3 header bytes plus a section_length of at most 1021.
const MAX_SECTION_LEN: usize = 3 + 1021;

pub(super) const TABLE_PAT: u8 = 0x00;
pub(super) const TABLE_PMT: u8 = 0x02;

/// Collects one PSI section from the packets of a PID.
#[derive(Debug, Default)]
pub(super) struct SectionBuffer {
    buf: Vec<u8>,
    /// A section start has been seen and no packet was lost since.
    active: bool,
}

impl SectionBuffer {
    /// Feeds a packet payload; returns the sections that end in this packet (header through
    /// CRC): at most the one that was being collected and the first one starting here. Further
    /// sections in the same payload are not read: PAT and PMT are one section each.
    pub(super) fn push(&mut self, payload: &[u8], unit_start: bool) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        if unit_start {
            let Some((&pointer, rest)) = payload.split_first() else {
                return done;
            };
            let pointer = usize::from(pointer);
            if self.active {
                // The bytes before the pointer finish the previous section.
                self.buf
                    .extend_from_slice(rest.get(..pointer).unwrap_or(rest));
                done.extend(self.take_complete());
            }
            self.buf.clear();
            self.active = true;
            self.buf
                .extend_from_slice(rest.get(pointer..).unwrap_or_default());
        } else if self.active {
            self.buf.extend_from_slice(payload);
        } else {
            return done;
        }
        if self.buf.len() > MAX_SECTION_LEN + 188 {
            self.reset();
            return done;
        }
        done.extend(self.take_complete());
        done
    }

    /// Forgets a partial section (after a lost packet).
    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.active = false;
    }

    fn take_complete(&mut self) -> Option<Vec<u8>> {
        if self.buf.len() < 3 {
            return None;
        }
        let len = 3 + (usize::from(u16::from_be_bytes([self.buf[1], self.buf[2]])) & 0x0FFF);
        if len > MAX_SECTION_LEN {
            self.reset();
            return None;
        }
        if self.buf.len() < len {
            return None;
        }
        self.buf.truncate(len);
        self.active = false;
        Some(std::mem::take(&mut self.buf))
    }
}

/// The long-form section header fields we use, and the section's body (between the header and
/// the CRC).
pub(super) struct Section<'a> {
    pub(super) table_id: u8,
    pub(super) version: u8,
    pub(super) body: &'a [u8],
}

/// `None` for sections that fail the CRC, are malformed, or are not yet applicable
/// (current_next_indicator 0).
pub(super) fn parse_section(section: &[u8]) -> Option<Section<'_>> {
    // table_id, flags + length (2), id (2), version (1), section numbers (2), ..., CRC (4).
    if section.len() < 12 || crc32_mpeg2(section) != 0 {
        return None;
    }
    let section_syntax = section[1] & 0x80 != 0;
    let current = section[5] & 0x01 != 0;
    if !section_syntax || !current {
        return None;
    }
    Some(Section {
        table_id: section[0],
        version: (section[5] >> 1) & 0x1F,
        body: &section[8..section.len() - 4],
    })
}

/// The PMT PID of the first program in a PAT body (program 0 is the network PID, skipped).
pub(super) fn first_program_pmt_pid(pat_body: &[u8]) -> Option<u16> {
    pat_body.chunks_exact(4).find_map(|entry| {
        let program = u16::from_be_bytes([entry[0], entry[1]]);
        let pid = u16::from_be_bytes([entry[2], entry[3]]) & 0x1FFF;
        (program != 0).then_some(pid)
    })
}

/// One elementary stream listed in a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EsInfo {
    pub(super) stream_type: u8,
    pub(super) pid: u16,
}

/// The elementary streams of a PMT body, in order. A truncated entry ends the list.
pub(super) fn pmt_streams(pmt_body: &[u8]) -> Vec<EsInfo> {
    let mut streams = Vec::new();
    // PCR_PID (2), program_info_length (2), descriptors.
    let Some(info_len) = pmt_body.get(2..4) else {
        return streams;
    };
    let info_len = usize::from(u16::from_be_bytes([info_len[0], info_len[1]]) & 0x0FFF);
    let mut rest = pmt_body.get(4 + info_len..).unwrap_or_default();
    while rest.len() >= 5 {
        let stream_type = rest[0];
        let pid = u16::from_be_bytes([rest[1], rest[2]]) & 0x1FFF;
        let es_info_len = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0FFF);
        streams.push(EsInfo { stream_type, pid });
        rest = rest.get(5 + es_info_len..).unwrap_or_default();
    }
    streams
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial value all ones, no reflection, no final
/// XOR). Over a whole section including its CRC field the result is 0.
pub(super) fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn crc_check_value() {
        // The catalogued check value of CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    /// A PAT as ffmpeg writes it: program 1 on PMT PID 0x1000.
    const FFMPEG_PAT: [u8; 16] = [
        0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04,
        0xB2,
    ];

    #[test]
    fn ffmpeg_pat() {
        let s = parse_section(&FFMPEG_PAT).unwrap();
        assert_eq!((s.table_id, s.version), (TABLE_PAT, 0));
        assert_eq!(first_program_pmt_pid(s.body), Some(0x1000));

        let mut bad = FFMPEG_PAT;
        bad[10] ^= 1;
        assert!(parse_section(&bad).is_none());
    }

    #[test]
    fn section_split_over_packets() {
        let mut sections = SectionBuffer::default();
        // pointer_field 2 skips two stuffing bytes of a previous section we never started.
        let mut first = vec![2, 0xAA, 0xBB];
        first.extend_from_slice(&FFMPEG_PAT[..5]);
        assert!(sections.push(&first, true).is_empty());
        let mut second = FFMPEG_PAT[5..].to_vec();
        second.extend_from_slice(&[0xFF; 20]);
        assert_eq!(sections.push(&second, false), vec![FFMPEG_PAT.to_vec()]);
        // A continuation with no start is ignored.
        assert!(sections.push(&FFMPEG_PAT, false).is_empty());

        // A section that ends in the packet where the next one starts: both come out.
        let mut first = vec![0];
        first.extend_from_slice(&FFMPEG_PAT[..10]);
        assert!(sections.push(&first, true).is_empty());
        let mut second = vec![6];
        second.extend_from_slice(&FFMPEG_PAT[10..]);
        second.extend_from_slice(&FFMPEG_PAT);
        assert_eq!(
            sections.push(&second, true),
            vec![FFMPEG_PAT.to_vec(), FFMPEG_PAT.to_vec()]
        );
    }

    #[test]
    fn pmt_streams_skip_descriptors() {
        let body = [
            0xE1, 0x00, // PCR PID 0x100
            0xF0, 0x02, 0x0A, 0x00, // program_info_length 2
            0x1B, 0xE1, 0x00, 0xF0, 0x03, 1, 2, 3, // H.264 on 0x100, 3 bytes of descriptors
            0x0F, 0xE1, 0x01, 0xF0, 0x00, // AAC on 0x101
            0x0F, 0xE1, // truncated
        ];
        assert_eq!(
            pmt_streams(&body),
            vec![
                EsInfo {
                    stream_type: 0x1B,
                    pid: 0x100
                },
                EsInfo {
                    stream_type: 0x0F,
                    pid: 0x101
                }
            ]
        );
        assert!(pmt_streams(&[0xE1]).is_empty());
    }
}
