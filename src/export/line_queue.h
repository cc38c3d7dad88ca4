/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded queue of whole text lines between one producer that must never
 * wait (the pipeline thread) and one consumer that may block for as long as
 * its output does (the printer's writer thread). Bytes are bounded, not
 * lines: a line that does not fit is refused whole, so what comes out is
 * only ever whole lines, in order.
 */
#ifndef SONDE_EXPORT_LINE_QUEUE_H
#define SONDE_EXPORT_LINE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct line_queue;

/** line_queue__new() - a queue holding at most @capacity bytes. */
struct line_queue *line_queue__new(size_t capacity);
void line_queue__free(struct line_queue *q);

/**
 * line_queue__push() - append @len bytes (one or more whole lines), never
 * waiting. Return: false when they do not fit (nothing was added) or the
 * queue is closed.
 */
bool line_queue__push(struct line_queue *q, const char *line, size_t len);

/**
 * line_queue__pop() - wait until bytes are queued or the queue is closed,
 * then move out up to @size bytes, ending at a line end (a line longer
 * than @size comes out in pieces, the queue never splits it otherwise).
 * Return: bytes copied; 0 when the queue is closed and empty.
 */
size_t line_queue__pop(struct line_queue *q, char *buf, size_t size);

/** line_queue__close() - refuse further pushes and wake the consumer, which
 * still gets what was queued. */
void line_queue__close(struct line_queue *q);

/** line_queue__used() - bytes queued now. */
size_t line_queue__used(struct line_queue *q);

#endif /* SONDE_EXPORT_LINE_QUEUE_H */
