/* See shim.h. Each wrapper only forwards to the DPDK inline function of the same name. */
#include "shim.h"

int fg_errno(void) { return rte_errno; }
unsigned fg_lcore_id(void) { return rte_lcore_id(); }

uint16_t fg_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                         uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t fg_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                         uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *fg_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int fg_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void fg_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
char *fg_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, char *); }
uint16_t fg_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }
char *fg_pktmbuf_view(struct rte_mbuf *m, uint16_t *len)
{
    *len = rte_pktmbuf_data_len(m);
    return rte_pktmbuf_mtod(m, char *);
}
uint32_t fg_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t fg_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }
uint16_t fg_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t fg_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
char *fg_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *fg_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *fg_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int fg_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

unsigned fg_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table, unsigned n,
                               unsigned *free_space) {
    return rte_ring_enqueue_burst(r, obj_table, n, free_space);
}

unsigned fg_ring_dequeue_burst(struct rte_ring *r, void **obj_table, unsigned n,
                               unsigned *available) {
    return rte_ring_dequeue_burst(r, obj_table, n, available);
}

unsigned fg_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }
