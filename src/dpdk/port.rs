//! Ethernet ports: configuration, start/stop, RX/TX queues, MAC, link and statistics.
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::c_char;

use super::{Burst, DpdkError, Eal, Mempool, Result, ffi};

// `RTE_ETH_RSS_*` are built with RTE_BIT64() and bindgen does not generate them.
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
const RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
const RSS_IPV6: u64 = 1 << 8;
const RSS_FRAG_IPV6: u64 = 1 << 9;
const RSS_NONFRAG_IPV6_TCP: u64 = 1 << 10;
const RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
const RSS_NONFRAG_IPV6_OTHER: u64 = 1 << 13;
const RSS_ESP: u64 = 1 << 27;
/// The hash fields ferrogate asks for: IP addresses, L4 ports and the ESP SPI where the NIC
/// can hash it. Masked with what the device offers.
const RSS_WANTED: u64 = RSS_IPV4
    | RSS_FRAG_IPV4
    | RSS_NONFRAG_IPV4_TCP
    | RSS_NONFRAG_IPV4_UDP
    | RSS_NONFRAG_IPV4_OTHER
    | RSS_IPV6
    | RSS_FRAG_IPV6
    | RSS_NONFRAG_IPV6_TCP
    | RSS_NONFRAG_IPV6_UDP
    | RSS_NONFRAG_IPV6_OTHER
    | RSS_ESP;

/// How to set a port up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// RX queues.
    pub rx_queues: u16,
    /// TX queues (one per forwarding lcore, so TX needs no lock).
    pub tx_queues: u16,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Spread RX over the queues by RSS (ignored with one RX queue).
    pub rss: bool,
    /// Accept frames for any MAC address.
    pub promiscuous: bool,
    /// MTU to set, if not the device default.
    pub mtu: Option<u16>,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
            mtu: None,
        }
    }
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mb/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because RX queues were full.
    pub rx_missed: u64,
    /// Erroneous received packets.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// An ethdev port. Dropping it stops and closes the device.
#[derive(Debug)]
pub struct Port<'e> {
    id: u16,
    name: String,
    started: bool,
    rx_queues: u16,
    tx_queues: u16,
    _eal: PhantomData<&'e Eal>,
}

impl<'e> Port<'e> {
    /// The port DPDK registered under `name`: a vdev's name (`net_ring0`) or a PCI address
    /// (`0000:03:00.0`).
    pub fn by_name(_eal: &'e Eal, name: &str) -> Result<Self> {
        let cname = CString::new(name).map_err(|_| DpdkError::Nul(name.to_owned()))?;
        let mut id = 0u16;
        // SAFETY: the EAL is initialised; the name is NUL-terminated; id is a valid out-param.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::NoSuchPort(name.to_owned()));
        }
        Ok(Port {
            id,
            name: name.to_owned(),
            started: false,
            rx_queues: 0,
            tx_queues: 0,
            _eal: PhantomData,
        })
    }

    /// Names of every port DPDK knows, by port id.
    pub fn all_names(_eal: &'e Eal) -> Vec<(u16, String)> {
        let mut out = Vec::new();
        // SAFETY: the EAL is initialised; rte_eth_find_next returns a valid id or MAX.
        let mut id = unsafe { ffi::rte_eth_find_next(0) };
        while u32::from(id) < ffi::RTE_MAX_ETHPORTS {
            let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
            // SAFETY: id is a valid port; buf has RTE_ETH_NAME_MAX_LEN bytes as required.
            if unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) } == 0 {
                // SAFETY: DPDK wrote a NUL-terminated name into buf.
                let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
                out.push((id, name.to_string_lossy().into_owned()));
            }
            // SAFETY: as above.
            id = unsafe { ffi::rte_eth_find_next(id + 1) };
        }
        out
    }

    /// The DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The name the port was found by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The NUMA socket the device is attached to (0 when unknown).
    pub fn socket(&self) -> u32 {
        // SAFETY: self.id is a valid port.
        let s = unsafe { ffi::rte_eth_dev_socket_id(self.id) };
        u32::try_from(s).unwrap_or(0)
    }

    /// The driver name (`net_ring`, `net_pcap`, `net_ixgbe`, ...).
    pub fn driver(&self) -> Result<String> {
        let info = self.info()?;
        if info.driver_name.is_null() {
            return Ok(String::new());
        }
        // SAFETY: driver_name points to the driver's static NUL-terminated name.
        Ok(unsafe { std::ffi::CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned())
    }

    fn info(&self) -> Result<ffi::rte_eth_dev_info> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: self.id is a valid port; info is a valid out-param.
        let ret = unsafe { ffi::rte_eth_dev_info_get(self.id, &mut info) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_info_get", ret));
        }
        Ok(info)
    }

    /// Configures the device and sets up its queues, RX queues drawing from `pool`.
    pub fn configure(&mut self, cfg: &PortConfig, pool: &Mempool<'e>) -> Result<()> {
        if self.started {
            self.stop();
        }
        let info = self.info()?;
        let unsupported = |what: String| DpdkError::Unsupported { port: self.name.clone(), what };
        if cfg.rx_queues == 0 || cfg.rx_queues > info.max_rx_queues {
            return Err(unsupported(format!(
                "{} RX queues requested, the device has 1..={}",
                cfg.rx_queues, info.max_rx_queues
            )));
        }
        if cfg.tx_queues == 0 || cfg.tx_queues > info.max_tx_queues {
            return Err(unsupported(format!(
                "{} TX queues requested (one per forwarding lcore), the device has 1..={}",
                cfg.tx_queues, info.max_tx_queues
            )));
        }
        let mut conf = ffi::rte_eth_conf::default();
        let rss_hf = RSS_WANTED & info.flow_type_rss_offloads;
        if cfg.rss && cfg.rx_queues > 1 && rss_hf == 0 {
            tracing::warn!(
                "port {}: the device cannot hash for RSS: only RX queue 0 will receive",
                self.name
            );
        }
        if cfg.rss && cfg.rx_queues > 1 && rss_hf != 0 {
            conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            conf.rx_adv_conf.rss_conf.rss_key = std::ptr::null_mut();
        }
        // SAFETY: self.id is a valid, stopped port; conf is a fully initialised struct.
        let ret =
            unsafe { ffi::rte_eth_dev_configure(self.id, cfg.rx_queues, cfg.tx_queues, &conf) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_configure", ret));
        }
        let (mut rx_desc, mut tx_desc) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port and in/out params; DPDK clamps them to the device limits.
        let ret =
            unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        let socket = self.socket();
        for q in 0..cfg.rx_queues {
            // SAFETY: configured port, q below the configured count, NULL conf means the
            // driver default, pool valid for 'e.
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(
                    self.id,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if ret != 0 {
                return Err(DpdkError::from_ret("rte_eth_rx_queue_setup", ret));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: configured port, q below the configured count, default conf.
            let ret = unsafe {
                ffi::rte_eth_tx_queue_setup(self.id, q, tx_desc, socket, std::ptr::null())
            };
            if ret != 0 {
                return Err(DpdkError::from_ret("rte_eth_tx_queue_setup", ret));
            }
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: valid configured port.
            let ret = unsafe { ffi::rte_eth_dev_set_mtu(self.id, mtu) };
            if ret != 0 {
                return Err(DpdkError::from_ret("rte_eth_dev_set_mtu", ret));
            }
        }
        if cfg.promiscuous {
            // SAFETY: valid port. Some vdevs cannot do it and are promiscuous anyway.
            let _ = unsafe { ffi::rte_eth_promiscuous_enable(self.id) };
        }
        self.rx_queues = cfg.rx_queues;
        self.tx_queues = cfg.tx_queues;
        Ok(())
    }

    /// Starts the device and hands out one handle per RX and TX queue. Each queue handle is
    /// unique, so no two threads can poll one queue.
    pub fn start(&mut self) -> Result<(Vec<RxQueue<'e>>, Vec<TxQueue<'e>>)> {
        // SAFETY: valid, configured port.
        let ret = unsafe { ffi::rte_eth_dev_start(self.id) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_dev_start", ret));
        }
        self.started = true;
        let rx =
            (0..self.rx_queues).map(|q| RxQueue { port: self.id, queue: q, _eal: PhantomData });
        let tx =
            (0..self.tx_queues).map(|q| TxQueue { port: self.id, queue: q, _eal: PhantomData });
        Ok((rx.collect(), tx.collect()))
    }

    /// Stops the device (its queues then return nothing).
    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: valid, started port. After stop DPDK points the fast-path ops at dummy
            // functions, so queue handles still held stay harmless.
            let _ = unsafe { ffi::rte_eth_dev_stop(self.id) };
            self.started = false;
        }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut a = ffi::rte_ether_addr::default();
        // SAFETY: valid port and out-param.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id, &mut a) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_macaddr_get", ret));
        }
        Ok(a.addr_bytes)
    }

    /// The link state, without waiting for autonegotiation.
    pub fn link(&self) -> Result<Link> {
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: valid port and out-param.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id, &mut l) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_link_get_nowait", ret));
        }
        Ok(Link {
            up: l.link_status() == ffi::RTE_ETH_LINK_UP as u16,
            speed_mbps: if l.link_speed == u32::MAX { 0 } else { l.link_speed },
            full_duplex: l.link_duplex() == ffi::RTE_ETH_LINK_FULL_DUPLEX as u16,
        })
    }

    /// The port counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: valid port and out-param.
        let ret = unsafe { ffi::rte_eth_stats_get(self.id, &mut s) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_stats_get", ret));
        }
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Zeroes the port counters.
    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: valid port.
        let ret = unsafe { ffi::rte_eth_stats_reset(self.id) };
        if ret != 0 {
            return Err(DpdkError::from_ret("rte_eth_stats_reset", ret));
        }
        Ok(())
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        self.stop();
        // SAFETY: valid, stopped port; nothing uses it after close (self is gone and queue
        // handles only reach dummy fast-path functions).
        let _ = unsafe { ffi::rte_eth_dev_close(self.id) };
    }
}

/// One RX queue of a started port, owned by the lcore that polls it.
#[derive(Debug)]
pub struct RxQueue<'e> {
    port: u16,
    queue: u16,
    _eal: PhantomData<&'e Eal>,
}

impl<'e> RxQueue<'e> {
    /// Port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` packets (at most `burst.room()`) into `burst`; returns how many
    /// came.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst<'e>, max: usize) -> usize {
        let room = burst.room().min(max);
        if room == 0 {
            return 0;
        }
        let slots = burst.raw_slots();
        let len = burst.len();
        // SAFETY: this handle is the only user of (port, queue); slots[len..len+room] is free
        // space in the burst; DPDK writes at most `room` owned mbuf pointers there.
        let n = unsafe { ffi::fg_eth_rx_burst(self.port, self.queue, slots.add(len), room as u16) };
        // SAFETY: DPDK filled n slots after len with mbufs now owned by the burst.
        unsafe { burst.commit(usize::from(n)) };
        usize::from(n)
    }
}

/// One TX queue of a started port, owned by the lcore that sends on it.
#[derive(Debug)]
pub struct TxQueue<'e> {
    port: u16,
    queue: u16,
    _eal: PhantomData<&'e Eal>,
}

impl<'e> TxQueue<'e> {
    /// Port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Hands the burst's packets to the device, front first; returns how many it took.
    /// Those the queue had no room for stay in `burst`.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst<'e>) -> usize {
        let len = burst.len();
        if len == 0 {
            return 0;
        }
        let slots = burst.raw_slots();
        // SAFETY: this handle is the only user of (port, queue); slots[0..len] are owned
        // mbufs; DPDK takes ownership of the first n it returns.
        let n =
            usize::from(unsafe { ffi::fg_eth_tx_burst(self.port, self.queue, slots, len as u16) });
        // SAFETY: the device took the first n mbufs.
        unsafe { burst.consume_front(n) };
        n
    }
}
