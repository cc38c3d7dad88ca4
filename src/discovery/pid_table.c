// SPDX-License-Identifier: Apache-2.0
/* The traced processes by pid: open addressing, linear probing. */
#include <stdlib.h>

#include "discovery/internal.h"

static unsigned int slot_of(const struct pid_table *t, uint32_t pid)
{
	unsigned int i = (pid * 2654435761u) & (PROC_SLOTS - 1);

	while (t->slots[i] && t->slots[i]->pid != pid)
		i = (i + 1) & (PROC_SLOTS - 1);
	return i;
}

struct proc_info *pid_table__get(const struct pid_table *t, uint32_t pid)
{
	return t->slots[slot_of(t, pid)];
}

void pid_table__put(struct pid_table *t, struct proc_info *p)
{
	unsigned int slot = slot_of(t, p->pid);

	free(t->slots[slot]);
	if (!t->slots[slot])
		t->count++;
	t->slots[slot] = p;
}

void pid_table__remove(struct pid_table *t, uint32_t pid)
{
	unsigned int i = slot_of(t, pid), j;

	if (!t->slots[i])
		return;
	free(t->slots[i]);
	t->slots[i] = NULL;
	t->count--;
	/* Re-seat the rest of the cluster so lookups still find them. */
	for (j = (i + 1) & (PROC_SLOTS - 1); t->slots[j]; j = (j + 1) & (PROC_SLOTS - 1)) {
		struct proc_info *p = t->slots[j];

		t->slots[j] = NULL;
		t->slots[slot_of(t, p->pid)] = p;
	}
}

void pid_table__clear(struct pid_table *t)
{
	for (unsigned int i = 0; i < PROC_SLOTS; i++) {
		free(t->slots[i]);
		t->slots[i] = NULL;
	}
	t->count = 0;
}
