/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DEVICE_H
#define VHOST_DEVICE_H

/* The device table, as the datapath needs it: a device by its vid. The
 * structures are vhost_device_types.h; creating, resetting and freeing
 * devices, and holding their rings, are the control path's
 * (vhost_lifecycle.h). Defined in vhost_lifecycle.c, which keeps the
 * table; devtools/check-layers.py keeps this header to that one
 * declaration. */

#include "vhost_device_types.h"

/* The device vid, or NULL. */
struct vhost_device *vhost_device_get(int vid);

#endif /* VHOST_DEVICE_H */
