# -*- coding: utf-8 -*-
# Copyright (c) virtnet.linux contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab-based tests' harness: labs (lab.py), playbook runs (runs.py, on tools/play.py), the qemu guest
of the DHCP role test (guest.py). See tests/README.md."""
