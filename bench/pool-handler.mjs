// The packet callback the pool benchmark's workers run: accept everything.
export default function accept() {
  return 'accept';
}
