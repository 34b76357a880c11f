# Disk layout and boot loader, shared by every node and by `minimal`:
#   1M BIOS boot (EF02) | 512M ESP (EF00, vfat, /boot) | 10G root (ext4, /) | rest: LVM PV in vg0
# vg0 holds one thin pool over all its free space, left for storage add-ons to carve up.
{ lib, nodeData, ... }:
{
  disko.devices = {
    disk.main = {
      type = "disk";
      device = nodeData.disk;
      content = {
        type = "gpt";
        partitions = {
          # GRUB's core image on BIOS machines. Because of this partition disko itself adds
          # the disk to boot.loader.grub.devices, so the flake does not list it.
          boot = {
            size = "1M";
            type = "EF02";
            priority = 1;
          };
          ESP = {
            size = "512M";
            type = "EF00";
            priority = 2;
            content = {
              type = "filesystem";
              format = "vfat";
              mountpoint = "/boot";
              mountOptions = [ "umask=0077" ]; # the boot partition holds nothing for other users
            };
          };
          root = {
            size = "10G";
            priority = 3;
            content = {
              type = "filesystem";
              format = "ext4";
              mountpoint = "/";
            };
          };
          lvm = {
            size = "100%";
            type = "8E00";
            content = {
              type = "lvm_pv";
              vg = "vg0";
            };
          };
        };
      };
    };
    lvm_vg.vg0 = {
      type = "lvm_vg";
      lvs.thinpool = {
        size = "100%FREE";
        lvm_type = "thin-pool";
      };
    };
  };

  # Boots on BIOS (through the EF02 partition) and on UEFI (from the ESP). "Removable"
  # installs to the fallback path EFI/BOOT/BOOTX64.EFI and never touches NVRAM variables,
  # so the same disk boots on any firmware.
  boot.loader.grub = {
    enable = lib.mkDefault true;
    efiSupport = lib.mkDefault true;
    efiInstallAsRemovable = lib.mkDefault true;
    # Only `minimal` sets this, when the nodes' disks differ (see generator.nix): it
    # replaces the per-disk entry that disko adds.
    devices = lib.mkIf (nodeData.grubDevices or null != null) (lib.mkForce nodeData.grubDevices);
  };
}
