/*
 * ferrogate DPDK shim: exported wrappers around DPDK's `static inline` fast-path functions,
 * which bindgen cannot bind. Compiled by build.rs with pkg-config's cflags.
 */
#ifndef FERROGATE_SHIM_H
#define FERROGATE_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_version.h>

int fg_errno(void);
unsigned fg_lcore_id(void);

uint16_t fg_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                         uint16_t nb_pkts);
uint16_t fg_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                         uint16_t nb_pkts);

struct rte_mbuf *fg_pktmbuf_alloc(struct rte_mempool *mp);
int fg_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void fg_pktmbuf_free(struct rte_mbuf *m);
char *fg_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t fg_pktmbuf_data_len(const struct rte_mbuf *m);
/* The first segment's data and its length in one call (the packet path asks for both). */
char *fg_pktmbuf_view(struct rte_mbuf *m, uint16_t *len);
uint32_t fg_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t fg_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t fg_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t fg_pktmbuf_tailroom(const struct rte_mbuf *m);
char *fg_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *fg_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *fg_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int fg_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);

unsigned fg_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table, unsigned n,
                               unsigned *free_space);
unsigned fg_ring_dequeue_burst(struct rte_ring *r, void **obj_table, unsigned n,
                               unsigned *available);
unsigned fg_ring_count(const struct rte_ring *r);

#endif
